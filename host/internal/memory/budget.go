package memory

import (
	"unicode/utf8"
)

// charsPerToken is the estimate the chat prompt uses (host/internal/chat):
// about four characters per token, plus a few for each item's framing.
const charsPerToken = 4

// Tokens estimates the tokens text costs in a prompt.
func Tokens(s string) int {
	return (utf8.RuneCountInString(s)+charsPerToken-1)/charsPerToken + 4
}

// Shares of the budget (percent). Blocks are filled in this order, each up
// to its share of the whole budget, and what one leaves unused flows to the
// next:
//
//	persona    up to 25%  (cut with "…" when longer: it is one text)
//	knowledge  up to 35%  (always-on, then key hits, then matches; by priority)
//	memories   all but a 10% reserve for examples (best first)
//	examples   what is left
//
// Knowledge entries, memories and examples go in whole or not at all: one
// that does not fit is skipped and a smaller one after it may still fit.
const (
	personaShare   = 25
	knowledgeShare = 35
	exampleReserve = 10
)

// cut trims b to b.Budget and sets b.Used.
func cut(b Blocks) Blocks {
	budget := b.Budget
	if budget <= 0 {
		return Blocks{Budget: budget}
	}
	used := 0
	if b.Persona != nil {
		limit := budget * personaShare / 100
		p := *b.Persona
		if Tokens(p.Content) > limit {
			keep := (limit - 4) * charsPerToken
			if keep < 1 {
				b.Persona = nil
			} else {
				r := []rune(p.Content)
				if len(r) > keep {
					p.Content = string(r[:keep-1]) + "…"
				}
				b.Persona = &p
			}
		} else {
			b.Persona = &p
		}
		if b.Persona != nil {
			used += Tokens(b.Persona.Content)
		}
	}
	limit := used + budget*knowledgeShare/100
	var know []Knowledge
	for _, k := range b.Knowledge {
		t := Tokens(k.Title) + Tokens(k.Content)
		if used+t <= limit {
			used += t
			know = append(know, k)
		}
	}
	b.Knowledge = know
	limit = budget - budget*exampleReserve/100
	var mems []Memory
	for _, m := range b.Memories {
		t := Tokens(m.Content)
		if used+t <= limit {
			used += t
			mems = append(mems, m)
		}
	}
	b.Memories = mems
	var ex []Example
	for _, e := range b.Examples {
		t := Tokens(e.User) + Tokens(e.Character)
		if used+t <= budget {
			used += t
			ex = append(ex, e)
		}
	}
	b.Examples = ex
	b.Used = used
	return b
}

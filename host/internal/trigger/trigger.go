// Package trigger decides which personalities answer a Discord message.
//
// The rules, in order:
//
//  1. A reply to a message a personality posted: that personality answers.
//  2. "@name" or "@alias" anywhere in the message: each personality mentioned answers, in order of
//     appearance, once each. A reply and mentions combine (the replied-to personality first); the
//     total is capped (default 3) so one message cannot wake a crowd.
//  3. Otherwise, a personality activated in the channel (or in a thread's parent channel) answers.
//  4. Otherwise, in a direct message to the bot, the personality the user last talked to there
//     answers.
//
// Messages from bots and webhooks are ignored, which also keeps personalities (posted through the
// bot's own webhooks) from answering each other in a loop.
package trigger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/tzurot-go/tzurot/host/internal/message"
)

// DefaultMaxPersonalities caps how many personalities answer one message.
const DefaultMaxPersonalities = 3

// Reason says why a personality was triggered.
type Reason int

// The reasons, in the order the rules apply.
const (
	ReasonReply Reason = iota + 1
	ReasonMention
	ReasonActiveChannel
	ReasonDM
)

func (r Reason) String() string {
	switch r {
	case ReasonReply:
		return "reply"
	case ReasonMention:
		return "mention"
	case ReasonActiveChannel:
		return "active channel"
	case ReasonDM:
		return "direct message"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Trigger is one personality that should answer.
type Trigger struct {
	PersonalityID int64
	Reason        Reason
}

// Decision is the outcome for one message.
type Decision struct {
	// Triggers lists the personalities that answer, in order. Empty means nobody answers.
	Triggers []Trigger
	// Content is the message text to send to the model: mentions that address a personality at the
	// start or end of the message are removed ("@bambi hi" -> "hi"); mentions inside a sentence
	// keep the name and lose the "@" ("I think @bambi is right" -> "I think bambi is right") so the
	// sentence still reads.
	Content string
}

// MessageOwners tells which personality posted a message (from the ids the sender returned).
// *store.Store implements it.
type MessageOwners interface {
	PersonalityForMessage(ctx context.Context, messageID string) (personalityID int64, found bool, err error)
}

// ChannelActivations tells which personality is activated in a channel, if any. *store.Store
// implements it.
type ChannelActivations interface {
	ActivatedPersonality(ctx context.Context, channelID string) (personalityID int64, found bool, err error)
}

// DMSessions tells which personality a Discord user last talked to in direct messages. (The
// store keys sessions by its own user id; the pipeline maps the Discord id to it.)
type DMSessions interface {
	LastDMPersonality(ctx context.Context, discordUserID string) (personalityID int64, found bool, err error)
}

// Config wires a Detector. Aliases is required; a nil lookup interface turns its rule off.
type Config struct {
	Aliases  *AliasIndex
	Owners   MessageOwners
	Channels ChannelActivations
	DMs      DMSessions
	// BotUserID is the bot's own user id: replies to the bot's own messages (personalities speak
	// as the bot in DMs, where webhooks do not exist) are looked up as personality messages.
	BotUserID string
	// MaxPersonalities caps the personalities answering one message (default 3).
	MaxPersonalities int
}

// Detector applies the rules. It is safe for concurrent use.
type Detector struct {
	cfg Config
}

// New returns a Detector.
func New(cfg Config) (*Detector, error) {
	if cfg.Aliases == nil {
		return nil, errors.New("trigger: an alias index is required")
	}
	if cfg.MaxPersonalities <= 0 {
		cfg.MaxPersonalities = DefaultMaxPersonalities
	}
	return &Detector{cfg: cfg}, nil
}

// Decide returns who answers msg. A failed lookup does not stop the other rules: Decide returns
// what it could decide together with the error, so the caller can answer and still log it.
func (d *Detector) Decide(ctx context.Context, msg message.Message) (Decision, error) {
	dec := Decision{Content: msg.Content}
	if msg.Author.Bot || msg.WebhookID != "" {
		return dec, nil
	}
	var errs []error
	// A handful of triggers at most: a linear scan beats a map here.
	seen := func(pid int64) bool {
		for _, t := range dec.Triggers {
			if t.PersonalityID == pid {
				return true
			}
		}
		return false
	}
	add := func(pid int64, why Reason) bool {
		if len(dec.Triggers) >= d.cfg.MaxPersonalities || seen(pid) {
			return false
		}
		dec.Triggers = append(dec.Triggers, Trigger{PersonalityID: pid, Reason: why})
		return true
	}

	if ref := msg.Reference; ref != nil && d.cfg.Owners != nil && d.maybePersonality(ref) {
		pid, ok, err := d.cfg.Owners.PersonalityForMessage(ctx, ref.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("look up who posted replied-to message %s: %w", ref.ID, err))
		} else if ok {
			add(pid, ReasonReply)
		}
	}

	var usedArr [8]Mention
	used := usedArr[:0]
	for _, m := range d.cfg.Aliases.FindMentions(msg.Content) {
		if len(dec.Triggers) >= d.cfg.MaxPersonalities {
			break
		}
		if add(m.PersonalityID, ReasonMention) || seen(m.PersonalityID) {
			used = append(used, m)
		}
	}
	dec.Content = stripMentions(msg.Content, used)

	if len(dec.Triggers) == 0 && !msg.IsDM() && d.cfg.Channels != nil {
		for _, ch := range []string{msg.ChannelID, msg.ThreadParentID} {
			if ch == "" {
				continue
			}
			pid, ok, err := d.cfg.Channels.ActivatedPersonality(ctx, ch)
			if err != nil {
				errs = append(errs, fmt.Errorf("look up the personality active in channel %s: %w", ch, err))
				break
			}
			if ok {
				add(pid, ReasonActiveChannel)
				break
			}
		}
	}

	if len(dec.Triggers) == 0 && msg.IsDM() && d.cfg.DMs != nil {
		pid, ok, err := d.cfg.DMs.LastDMPersonality(ctx, msg.Author.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("look up the last personality in the direct messages of user %s: %w", msg.Author.ID, err))
		} else if ok {
			add(pid, ReasonDM)
		}
	}
	return dec, errors.Join(errs...)
}

// maybePersonality reports whether a replied-to message could be a personality's, so ordinary
// replies between users cost no lookup: personalities post through webhooks, or as the bot itself
// in DMs. When Discord did not say who wrote it, look it up.
func (d *Detector) maybePersonality(ref *message.Reference) bool {
	return ref.WebhookID != "" || ref.Author.ID == "" || (d.cfg.BotUserID != "" && ref.Author.ID == d.cfg.BotUserID)
}

// stripMentions removes the mentions that open or close the message (with the whitespace and
// ",:;" that separate them from the rest) and drops the "@" of the ones inside it.
func stripMentions(text string, ms []Mention) string {
	if len(ms) == 0 {
		return text
	}
	// Leading mentions: only whitespace and separators before each one.
	lead := 0
	cut := 0
	for _, m := range ms {
		if strings.TrimFunc(text[cut:m.Start], isSeparator) != "" {
			break
		}
		cut = m.End
		lead++
	}
	// Trailing mentions: only whitespace after each one (scanning back).
	trail := 0
	tailCut := len(text)
	for i := len(ms) - 1; i >= lead; i-- {
		if strings.TrimSpace(text[ms[i].End:tailCut]) != "" {
			break
		}
		tailCut = ms[i].Start
		trail++
	}
	var b strings.Builder
	pos := cut
	for _, m := range ms[lead : len(ms)-trail] {
		b.WriteString(text[pos:m.Start])
		b.WriteString(text[m.Start+1 : m.End]) // the name as typed, without "@"
		pos = m.End
	}
	if pos < tailCut {
		b.WriteString(text[pos:tailCut])
	}
	out := b.String()
	if lead > 0 {
		out = strings.TrimLeftFunc(out, isSeparator)
	}
	if trail > 0 {
		out = strings.TrimRightFunc(out, isSeparator)
	}
	return strings.TrimSpace(out)
}

func isSeparator(r rune) bool {
	return unicode.IsSpace(r) || r == ',' || r == ':' || r == ';'
}

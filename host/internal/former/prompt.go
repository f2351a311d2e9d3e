package former

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// MaxMemoriesPerWindow caps what one summary may store.
const MaxMemoriesPerWindow = 20

// systemPrompt asks for memories as JSON. The people are labels (U1, U2)
// so the answer names them unambiguously, whatever their display names.
const systemPrompt = `You are the long-term memory of %s, a character in a Discord chat.
Read the conversation and write down what is worth remembering about the people in it for
future conversations: facts about them, preferences, plans, events in their lives, how they
feel about things, promises made. Skip greetings and small talk. Write each memory as one or
two sentences in the third person, using the people's names. Name who each memory is about
with their labels from the participant list (U1, U2, ...); only people in that list.

Answer with JSON only, no other text:
{"memories":[{"about":["U1"],"text":"...","importance":0.5}]}
importance is 0 (trivia) to 1 (life-changing). If nothing is worth remembering, answer
{"memories":[]}.`

// prompt is a window turned into the summariser's messages, with the
// labels it used.
type prompt struct {
	messages []abi.Message
	labels   map[string]int64 // "U1" -> host user id
	users    []int64          // everyone in the window, in order of first message
}

func buildPrompt(pers store.Personality, ex []chat.Exchange, maxRunes int) prompt {
	p := prompt{labels: map[string]int64{}}
	name := pers.DisplayName
	if name == "" {
		name = pers.Name
	}
	label := map[int64]string{}
	var list, talk strings.Builder
	for _, e := range ex {
		l, ok := label[e.UserID]
		if !ok {
			l = fmt.Sprintf("U%d", len(label)+1)
			label[e.UserID] = l
			p.labels[l] = e.UserID
			p.users = append(p.users, e.UserID)
			fmt.Fprintf(&list, "%s = %s\n", l, oneLine(e.UserName, 100))
		}
		fmt.Fprintf(&talk, "%s (%s): %s\n%s: %s\n", l, oneLine(e.UserName, 100), cutRunes(e.UserText, maxRunes), name, cutRunes(e.ReplyText, maxRunes))
	}
	p.messages = []abi.Message{
		{Role: abi.RoleSystem, Content: fmt.Sprintf(systemPrompt, name)},
		{Role: abi.RoleUser, Content: "Participants:\n" + list.String() + "\nConversation:\n" + talk.String()},
	}
	return p
}

// present is everyone whose messages the summariser saw.
func (p prompt) present() []int64 { return p.users }

// resolve turns the labels a memory names into host user ids: unknown
// labels and users who opted out are dropped, repeats kept once.
func (p prompt) resolve(labels []string, optOut map[int64]bool) []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, l := range labels {
		id, ok := p.labels[strings.ToUpper(strings.TrimSpace(l))]
		if !ok || optOut[id] || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// formed is one memory as the model wrote it.
type formed struct {
	About      []string `json:"about"`
	Text       string   `json:"text"`
	Importance float64  `json:"importance"`
}

// parseMemories reads the model's answer: the JSON object asked for, also
// when the model wrapped it in a code fence or a sentence. Empty texts are
// dropped, importance is kept in 0..1, at most MaxMemoriesPerWindow.
func parseMemories(answer string) ([]formed, error) {
	i, j := strings.Index(answer, "{"), strings.LastIndex(answer, "}")
	var out struct {
		Memories []formed `json:"memories"`
	}
	if i < 0 || j < i {
		return nil, fmt.Errorf("the model's summary was not the JSON asked for: %q", cutRunes(answer, 120))
	}
	if err := json.Unmarshal([]byte(answer[i:j+1]), &out); err != nil {
		return nil, fmt.Errorf("the model's summary was not the JSON asked for (%v): %q", err, cutRunes(answer, 120))
	}
	var kept []formed
	for _, m := range out.Memories {
		m.Text = strings.TrimSpace(m.Text)
		if m.Text == "" || len(m.About) == 0 {
			continue
		}
		m.Importance = min(max(m.Importance, 0), 1)
		kept = append(kept, m)
		if len(kept) == MaxMemoriesPerWindow {
			break
		}
	}
	return kept, nil
}

func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func oneLine(s string, n int) string {
	return cutRunes(strings.Join(strings.Fields(s), " "), n)
}

package commands

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/handler"
)

// showReasoningName is the message command's name, as Discord shows it under
// Apps when a message is right-clicked (message commands may have spaces and
// capitals, and have no description).
const showReasoningName = "Show reasoning"

// Answers of "Show reasoning" that are not the reasoning itself.
const (
	reasoningNotYours = "Only the person this reply answered can see its reasoning."
	reasoningNone     = "This reply has no stored reasoning."
)

// reasoningHeader starts the answer that shows the reasoning inline.
const reasoningHeader = "**Reasoning behind this reply** (only you can see this):\n\n"

// showReasoning answers the "Show reasoning" message command: the reasoning
// ("thinking") the model produced for a reply, which the pipeline stores and
// never posts. Any message of a reply posted in several parts leads to it.
//
// Only the user the reply answered sees it, and only ephemerally: reasoning
// may repeat what that user wrote (or a DM), so it is theirs alone. Not even
// the bot's owners may read another user's reasoning here; they have the
// database.
//
// Reasoning that fits in one message (with its header) is shown inline;
// longer reasoning is attached as reasoning.txt to the same ephemeral
// answer. One answer, never a trail of follow-ups: reasoning can run to tens
// of thousands of characters, and a file keeps it whole and copyable.
func (c *Commands) showReasoning(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	target := e.MessageCommandInteractionData().TargetID()
	rr, ok, err := c.store.ReasoningForReplyMessage(ctx, target.String())
	if err != nil {
		return fmt.Errorf("look up reasoning of message %s: %w", target, err)
	}
	if !ok {
		return sayf(reasoningNone)
	}
	if rr.AskerDiscordID != e.User().ID.String() {
		return sayf(reasoningNotYours)
	}
	text := strings.TrimSpace(rr.Reasoning.Text)
	if utf8.RuneCountInString(reasoningHeader)+utf8.RuneCountInString(text) <= 2000 {
		return r.Send(reasoningHeader + text)
	}
	file := discord.NewFile("reasoning.txt", "The model's reasoning behind this reply", strings.NewReader(text+"\n"))
	return r.Send(fmt.Sprintf("**Reasoning behind this reply** (only you can see this): %d characters, too long for a message, so it is attached as `reasoning.txt`.",
		utf8.RuneCountInString(text)), file)
}

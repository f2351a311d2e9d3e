package commands

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/handler"
)

// Confirmation buttons: a command that deletes for good (/memory forget-all,
// /privacy delete-my-data) first answers with what would go and two buttons.
// The button's custom id carries everything the click needs (whose data,
// which scope, until when the question stands), so a click works after a
// restart and no state is kept between the question and the answer. The
// click is checked again on arrival: only the user who asked may confirm
// (the answer is ephemeral, so nobody else sees the button, but a custom id
// is not a secret), and an old question is refused rather than acted on.

// confirmFor is how long a confirmation button stays valid.
const confirmFor = 10 * time.Minute

// cancelID is the custom id of every "Cancel" button.
const cancelID = "/confirm/cancel"

// confirmRow is the two buttons of a confirmation.
func confirmRow(label, customID string) discord.LayoutComponent {
	return discord.NewActionRow(
		discord.NewDangerButton(label, customID),
		discord.NewSecondaryButton("Cancel", cancelID),
	)
}

// expiry is the deadline a confirmation asked now carries in its custom id.
func (c *Commands) expiry() string {
	return strconv.FormatInt(c.now().Add(confirmFor).Unix(), 10)
}

// SendConfirm shows content with the confirmation buttons, ephemerally.
func (r *reply) SendConfirm(content string, row discord.LayoutComponent) error {
	msg := discord.NewMessageCreate().WithContent(truncate(content, 2000)).WithEphemeral(true).
		WithAllowedMentions(noMentions()).WithComponents(row)
	if err := r.e.CreateMessage(msg); err != nil {
		return &sendError{fmt.Errorf("reply to interaction: %w", err)}
	}
	return nil
}

// button adapts a button handler like command: its answer replaces the
// message the button was on. The handler runs only when the clicking user
// is the one the custom id names ({user}) and the question has not expired
// ({expires}).
func (c *Commands) button(name, again string, h func(ctx context.Context, e *handler.ComponentEvent, r *reply) error) handler.ComponentHandler {
	return func(e *handler.ComponentEvent) error {
		r := &reply{e: e, respond: e.Respond, update: func(u discord.MessageUpdate) error { return e.UpdateMessage(u) }}
		var err error
		expires, perr := strconv.ParseInt(e.Vars["expires"], 10, 64)
		switch {
		case e.Vars["user"] != e.User().ID.String():
			err = sayf("This button belongs to someone else's question. Nothing was changed.")
		case perr != nil || c.now().Unix() > expires:
			err = sayf("This confirmation has expired. Run `%s` again if you still want to. Nothing was changed.", again)
		default:
			err = h(e.Ctx, e, r)
		}
		return c.finish(e.Ctx, r, name, err)
	}
}

// confirmCancel answers "Cancel" on any confirmation.
func (c *Commands) confirmCancel(e *handler.ComponentEvent) error {
	r := &reply{e: e, respond: e.Respond, update: func(u discord.MessageUpdate) error { return e.UpdateMessage(u) }}
	return c.finish(e.Ctx, r, "confirm cancel", r.Send("Cancelled. Nothing was changed."))
}

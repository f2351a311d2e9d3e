package chat

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/message"
	"github.com/tzurot-go/tzurot/host/internal/paramschema"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// DefaultErrorMessage is what a personality without an error_message of its
// own says when a reply fails.
const DefaultErrorMessage = "Sorry, I couldn't answer that just now. Please try again in a moment."

// refAlphabet is Crockford's base32 without the letters people misread
// (I, L, O, U): a reference a user can read aloud or type.
const refAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// RefID is the short reference printed with an error ("ref: 7KQ2MX") and
// logged with it. It is derived from the request id, so the same request
// always has the same reference and support can find it in the logs.
func RefID(requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	var out [6]byte
	v := uint64(sum[0])<<32 | uint64(sum[1])<<24 | uint64(sum[2])<<16 | uint64(sum[3])<<8 | uint64(sum[4])
	for i := range out {
		out[i] = refAlphabet[v&31]
		v >>= 5
	}
	return string(out[:])
}

// failure is a reply that could not be made, with what to tell whom.
type failure struct {
	// code is the abi error code (or a pipeline one) for logs.
	code string
	// cause is the full error, for the log.
	cause error
	// forUser explains the failure to the user whose key (and so whose
	// problem) it is, in plain words; it never contains a key. For failures
	// of the bot itself (botFailure) it says only that: the log explains.
	forUser string
}

// botFailure is a failure of the bot itself (its database away past the
// retries, a panic): never presented as the provider's. The user is told
// plainly that the bot had the problem; the log, under the same reference,
// has the cause.
func botFailure(code string, cause error) failure {
	what := "The bot itself had a problem"
	if code == codeDatabase {
		what = "The bot itself had a problem (it could not reach its database)"
	}
	return failure{code: code, cause: cause, forUser: what + ", so your message was not answered. " +
		"This is not your provider's fault and nothing is wrong with your key. Please try again in a few minutes; if it keeps happening, give the bot's owner the reference above."}
}

// Pipeline failure codes that are not provider errors.
const (
	codeNoPlugin = "no_plugin"
	codeEmpty    = "empty_reply"
	codeSend     = "send_failed"
	codeContext  = "context_failed"
	// codeParams: the personality's stored parameters break the plugin's
	// rules (parameters_schema, constraints_schema); no call was made.
	codeParams   = "invalid_parameters"
	codeDatabase = "database"
	codePanic    = "panic"
	// codeDiscordDown: Discord kept failing (5xx, network, 429) past the
	// sender's retries; the reply is lost.
	codeDiscordDown = "discord_unavailable"
	// codeGaveUp: a worker's job kept failing before it could answer and
	// its retries are used up (docs/scaling.md).
	codeGaveUp = "job_gave_up"
)

// sendFailure explains a reply that was written but could not be posted,
// naming what really happened: Discord failing is not a permission problem.
func sendFailure(err error) failure {
	f := failure{code: codeSend, cause: err, forUser: "Your reply was written but is lost: " + deliveryCause(err) + "."}
	if errors.Is(err, message.ErrUnavailable) {
		f.code = codeDiscordDown
		f.forUser += " The provider's answer still counts in `/usage`. Please send your message again."
	}
	return f
}

// deliveryCause says in words why Discord did not take a post.
func deliveryCause(err error) string {
	var de *message.DeliveryError
	switch {
	case errors.As(err, &de):
		return fmt.Sprintf("Discord kept failing while the bot posted it (%s; %d tries over %s)", de.Cause, de.Attempts, de.Elapsed.Round(time.Second))
	case errors.Is(err, message.ErrNoWebhookPermission):
		return "the bot needs the Manage Webhooks permission in that channel to speak as a personality (ask a server admin to grant it)"
	case errors.Is(err, message.ErrNoChannelAccess):
		return "the bot cannot see or post in that channel (check its permissions there)"
	}
	return "Discord refused to post it (the bot's log has the details under the reference)"
}

// paramsFailure explains stored parameters the plugin's current rules
// refuse, naming each field, so the owner knows what to change. No call
// was made.
func paramsFailure(err error, pluginName, model string) failure {
	what := err.Error()
	var ie *paramschema.InvalidError
	if errors.As(err, &ie) {
		lines := make([]string, len(ie.Problems))
		for i, p := range ie.Problems {
			lines[i] = p.String()
		}
		what = strings.Join(lines, "; ")
	}
	if model == "" {
		model = "its default model"
	}
	return failure{code: codeParams, cause: fmt.Errorf("stored parameters refused by %s's rules for %s: %w", pluginName, model, err),
		forUser: fmt.Sprintf("The personality's parameters do not suit %s on %s, so no request was sent: %s. Its owner can change them with `/personality llm`.", model, pluginName, what)}
}

// classify turns a plugin call error into a failure.
func classify(err error, provider string) failure {
	f := failure{code: abi.ErrInternal, cause: err}
	var ae *abi.Error
	if !errors.As(err, &ae) {
		f.forUser = "Something went wrong inside the bot while talking to " + provider + "."
		return f
	}
	f.code = ae.Code
	detail := strings.TrimSpace(ae.Message)
	if detail != "" {
		detail = " The provider said: " + detail
	}
	switch ae.Code {
	case abi.ErrInvalidKey:
		f.forUser = fmt.Sprintf("Your %s API key was rejected.%s Set a working key with `/wallet set %s`.", provider, detail, provider)
	case abi.ErrNoCredit:
		f.forUser = fmt.Sprintf("Your %s account has no credit left (or hit its spending limit).%s Top it up, or set another key with `/wallet set %s`.", provider, detail, provider)
	case abi.ErrRateLimited:
		f.forUser = fmt.Sprintf("%s is rate limiting your key right now.%s Wait a little and try again.", provider, detail)
	case abi.ErrUnavailable:
		f.forUser = fmt.Sprintf("%s could not be reached or answered with an error.%s This is usually temporary.", provider, detail)
	case abi.ErrTimeout:
		f.forUser = fmt.Sprintf("%s took too long to answer.%s Try again, or pick a faster model.", provider, detail)
	case abi.ErrBadRequest:
		f.forUser = fmt.Sprintf("%s refused the request (check the model name and its parameters).%s", provider, detail)
	case abi.ErrContent:
		f.forUser = fmt.Sprintf("%s's content filter blocked the reply.%s", provider, detail)
	case abi.ErrDenied:
		f.forUser = "The bot's configuration does not allow this request." + detail
	case abi.ErrNoKey:
		f.forUser = noKeyNotice(provider)
	default:
		f.forUser = fmt.Sprintf("The %s plugin failed.%s", provider, detail)
	}
	return f
}

// noKeyNotice tells a user how to add a key.
func noKeyNotice(provider string) string {
	return fmt.Sprintf("To talk with personalities that use %s, add your own API key: run `/wallet set %s` and paste the key into the form (only you see it; it is stored encrypted).", provider, provider)
}

// channelError is what the channel sees: the personality's own error
// message (or the default) and the reference.
func channelError(personalityMessage, ref string) string {
	msg := strings.TrimSpace(personalityMessage)
	if msg == "" {
		msg = DefaultErrorMessage
	}
	return fmt.Sprintf("%s (ref: %s)", msg, ref)
}

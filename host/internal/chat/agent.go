package chat

// The agent loop (docs/tools.md): when the personality may use tools, the
// chat request offers them; when the model answers with tool calls, the
// host runs each one (arguments checked against the tool's schema, the
// grant checked, the call made with the reply's identity), hands the
// results back as tool messages and asks again, until the model answers
// in words or a bound (steps, wall time, tokens) is reached. At a bound the
// model is asked once more, without tools, for its final answer.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// ToolsConfig switches and bounds the agent loop. Zero values take the
// defaults noted.
type ToolsConfig struct {
	// Disabled turns tools off for the whole deployment (TZUROT_TOOLS=off):
	// no chat request offers a tool and no tool call is run.
	Disabled bool
	// MaxSteps bounds the tool calls of one reply, refused ones included
	// (default 5, TZUROT_TOOL_STEPS).
	MaxSteps int
	// MaxTime bounds the time from the first chat call to the last tool
	// result of one reply (default 60 s, TZUROT_TOOL_TIME); the reply's own
	// timeout (TZUROT_REPLY_TIMEOUT) still bounds the whole reply.
	MaxTime time.Duration
	// MaxTokens bounds the tokens (input + output) the loop's chat and tool
	// calls may spend before the final answer is asked for (default 60000,
	// TZUROT_TOOL_TOKENS).
	MaxTokens int64
	// MaxResultBytes bounds a tool result handed back to the model (default
	// 16 KiB); a longer one is cut with a note saying so.
	MaxResultBytes int
}

func (c *ToolsConfig) defaults() {
	if c.MaxSteps <= 0 {
		c.MaxSteps = 5
	}
	if c.MaxTime <= 0 {
		c.MaxTime = 60 * time.Second
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = 60000
	}
	if c.MaxResultBytes <= 0 {
		c.MaxResultBytes = 16 << 10
	}
}

// ToolSpec is one tool the deployment offers: the plugins.toml entry that
// serves it (granted "tool") and the tool as the model sees it.
type ToolSpec struct {
	Entry string
	Tool  abi.Tool
}

// GrantName is how a personality's grant names the tool (the
// personality_tools table): "<entry>/<tool>".
func (s ToolSpec) GrantName() string { return s.Entry + "/" + s.Tool.Name }

// ToolFile is a file a tool handed back (an image): checked bytes, their
// sniffed MIME type and the name and alt text to attach it with.
type ToolFile struct {
	Data        []byte
	MimeType    string
	Filename    string
	Description string
}

// ToolOutput is the result of one tool call.
type ToolOutput struct {
	// Content is what the model reads.
	Content string
	// IsError is a failure the model should see and may recover from.
	IsError bool
	// Files are attached to the final reply.
	Files []ToolFile
}

// ToolHost runs tools; PluginTools adapts *plugin.Host to it.
type ToolHost interface {
	// ToolSpecs lists the tools of every loaded plugin plugins.toml grants
	// "tool".
	ToolSpecs() []ToolSpec
	// InvokeTool checks the arguments against the tool's schema (a
	// bad_request *abi.Error naming the field when they do not match, the
	// plugin never called) and runs the tool for the call in ctx.
	InvokeTool(ctx context.Context, entry string, req abi.InvokeRequest) (ToolOutput, []abi.Usage, error)
}

// ToolGrants says which tools a personality may call: names as in the
// personality_tools table ("generate_image", "<entry>/<tool>"). No grant,
// no tool.
type ToolGrants interface {
	PersonalityTools(ctx context.Context, personalityID int64) ([]string, error)
}

// ChannelInfo tells the loop whether a channel is age-restricted (Discord's
// nsfw flag); tools get NSFWAllowed only there.
type ChannelInfo interface {
	ChannelNSFW(ctx context.Context, channelID string) (bool, error)
}

// Tool outcomes, as logged per step.
const (
	outcomeOK           = "ok"
	outcomeToolError    = "tool_error"
	outcomeBadArguments = "bad_arguments"
	outcomeNotAvailable = "not_available"
	outcomeFailed       = "failed"
	outcomeSkipped      = "skipped"
)

// loopNotice is posted when the loop hit a bound and the model gave no
// final answer either.
const loopNotice = "I could not finish this: looking things up took too many steps. Try asking more simply."

// finalAsk is the note that asks the model for its final answer at a bound.
const finalAsk = "You cannot use tools any more for this message. Answer the user now with what you have."

// toolset is what one reply may call, by the name the model sees.
type toolset struct {
	offered []abi.Tool
	byName  map[string]ToolSpec
	// known are tools the deployment has that this personality may not use:
	// asked for, they are "not available" (and logged).
	known map[string]ToolSpec
	// image is the image config generate_image draws with, when offered.
	image *store.ImageConfig
}

func (t toolset) empty() bool { return len(t.offered) == 0 }

// tools reads what this reply may call. A grant lookup that fails leaves
// the reply without tools (answered in words), never without a reply.
func (j *job) tools(ctx context.Context) toolset {
	p := j.p
	ts := toolset{byName: map[string]ToolSpec{}, known: map[string]ToolSpec{}}
	if p.cfg.Tools.Disabled || p.grants == nil {
		return ts
	}
	var specs []ToolSpec
	if p.toolHost != nil {
		specs = p.toolHost.ToolSpecs()
	}
	if len(specs) == 0 && (p.images == nil || p.imageGen == nil) {
		return ts
	}
	granted, err := retry2(ctx, p.cfg.Retry, func(ctx context.Context) ([]string, error) {
		return p.grants.PersonalityTools(ctx, j.personality.ID)
	})
	if err != nil {
		j.log.Warn("cannot read the personality's tool grants; answering without tools", slog.Any("err", err))
		return ts
	}
	if slices.Contains(granted, ImageToolName) {
		// The built-in image tool comes first and keeps its name.
		if cfg, ok := j.imageEntry(ctx); ok {
			img := imageSpec()
			ts.image = &cfg
			ts.byName[ImageToolName] = img
			ts.offered = append(ts.offered, img.Tool)
		}
	}
	for _, s := range specs {
		name := s.Tool.Name
		if _, dup := ts.byName[name]; dup {
			// Two plugins offer the same name: the model cannot tell them
			// apart, so the first (in plugins.toml order) wins.
			j.log.Warn("two plugins offer a tool of the same name; the first is used", slog.String("tool", name), slog.String("entry", s.Entry))
			continue
		}
		if slices.Contains(granted, s.GrantName()) {
			ts.byName[name] = s
			ts.offered = append(ts.offered, s.Tool)
		} else {
			ts.known[name] = s
		}
	}
	return ts
}

// chatFunc is one chat call (the job's plugin, identity and key).
type chatFunc func(ctx context.Context, req abi.ChatRequest) (abi.ChatResponse, []abi.Usage, error)

// loopResult is what the loop produced: the final response, the usage of
// every step in order, the files tools attached and a notice for the user
// when the loop ended at a bound without an answer.
type loopResult struct {
	resp   abi.ChatResponse
	usage  []abi.Usage
	files  []ToolFile
	notice string
	steps  int
}

// converse runs the agent loop from req. Without tools it is one chat
// call. An error is a failed chat call (the usage so far is returned with
// it: the provider may have billed it).
func (j *job) converse(ctx context.Context, ts toolset, req abi.ChatRequest, chat chatFunc) (loopResult, error) {
	var out loopResult
	if ts.empty() {
		resp, usage, err := chat(ctx, req)
		out.resp, out.usage = resp, usage
		return out, err
	}
	cfg := j.p.cfg.Tools
	deadline := time.Now().Add(cfg.MaxTime)
	req.Tools = ts.offered
	var tokens int64
	var tctx abi.ToolContext
	tctxLoaded := false
	for {
		resp, usage, err := chat(ctx, req)
		out.usage = append(out.usage, usage...)
		for _, u := range usage {
			tokens += u.InputTokens + max(u.OutputTokens, 0)
		}
		if err != nil {
			return out, err
		}
		out.resp = resp
		if len(resp.ToolCalls) == 0 {
			return out, nil
		}
		if req.Tools == nil {
			// Asked for a final answer without tools and still calling them:
			// take what words there are, else tell the user.
			j.log.Warn("the model asked for tools after being told to answer without them", slog.Int("tool_calls", len(resp.ToolCalls)))
			out.resp.ToolCalls = nil
			if strings.TrimSpace(resp.Content) == "" {
				out.notice = loopNotice
			}
			return out, nil
		}
		if !tctxLoaded {
			tctx, tctxLoaded = j.toolContext(ctx), true
		}
		req.Messages = append(req.Messages, abi.Message{Role: abi.RoleAssistant, Content: resp.Content, ToolCalls: resp.ToolCalls})
		bound := ""
		for _, tc := range resp.ToolCalls {
			// Every call needs its tool message (the API refuses a
			// conversation with an unanswered call).
			switch {
			case bound != "":
			case out.steps >= cfg.MaxSteps:
				bound = "steps"
			case !time.Now().Before(deadline):
				bound = "time"
			case tokens >= cfg.MaxTokens:
				bound = "tokens"
			}
			var content string
			if bound != "" {
				content = "Not run: the limit of tool use for this message was reached (" + bound + ")."
				j.logStep(tc, ToolSpec{}, outcomeSkipped, 0, slog.String("bound", bound))
			} else {
				out.steps++
				var files []ToolFile
				var usage []abi.Usage
				content, files, usage = j.runTool(ctx, ts, tc, tctx, deadline, out.steps)
				out.usage = append(out.usage, usage...)
				for _, u := range usage {
					tokens += u.InputTokens + max(u.OutputTokens, 0)
				}
				out.files = append(out.files, files...)
			}
			req.Messages = append(req.Messages, abi.Message{Role: abi.RoleTool, ToolCallID: tc.ID, Name: tc.Name, Content: content})
		}
		if bound == "" {
			switch {
			case out.steps >= cfg.MaxSteps:
				bound = "steps"
			case !time.Now().Before(deadline):
				bound = "time"
			case tokens >= cfg.MaxTokens:
				bound = "tokens"
			}
		}
		if bound != "" {
			j.log.Info("tool loop bound reached; asking for the final answer", slog.String("bound", bound),
				slog.Int("steps", out.steps), slog.Int64("tokens", tokens))
			req.Tools = nil
			req.Messages = append(req.Messages, abi.Message{Role: abi.RoleSystem, Content: finalAsk})
		}
	}
}

// runTool runs one tool call and returns the tool message's content, the
// files it attached and its usage. It never fails the reply: whatever went
// wrong is told to the model, which answers the user.
func (j *job) runTool(ctx context.Context, ts toolset, tc abi.ToolCall, tctx abi.ToolContext, deadline time.Time, step int) (string, []ToolFile, []abi.Usage) {
	spec, ok := ts.byName[tc.Name]
	if !ok {
		attr := slog.String("reason", "no such tool")
		if s, known := ts.known[tc.Name]; known {
			spec, attr = s, slog.String("reason", "not granted to this personality")
		}
		j.logStep(tc, spec, outcomeNotAvailable, 0, attr, slog.Int("step", step))
		return fmt.Sprintf("The tool %q is not available. Answer without it.", printableName(tc.Name)), nil, nil
	}
	callCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	start := time.Now()
	var (
		res   ToolOutput
		usage []abi.Usage
		err   error
	)
	if spec.Entry == "" && spec.Tool.Name == ImageToolName && ts.image != nil {
		spec.Entry = ts.image.Plugin
		res, usage, err = j.runImage(callCtx, *ts.image, tc, tctx)
	} else {
		res, usage, err = j.p.toolHost.InvokeTool(callCtx, spec.Entry, abi.InvokeRequest{
			Tool: spec.Tool.Name, Arguments: json.RawMessage(tc.Arguments), Context: tctx,
		})
	}
	took := time.Since(start)
	if err != nil {
		var ae *abi.Error
		if errors.As(err, &ae) && ae.Code == abi.ErrBadRequest {
			j.logStep(tc, spec, outcomeBadArguments, took, slog.Int("step", step), slog.String("problem", ae.Message))
			return "The tool call was refused: " + ae.Message + ". Fix the arguments and call it again, or answer without it.", nil, usage
		}
		j.logStep(tc, spec, outcomeFailed, took, slog.Int("step", step), slog.Any("err", err))
		return "The tool failed (" + toolFailure(err) + "). Answer without it.", nil, usage
	}
	outcome := outcomeOK
	if res.IsError {
		outcome = outcomeToolError
	}
	j.logStep(tc, spec, outcome, took, slog.Int("step", step), slog.Int("result_bytes", len(res.Content)), slog.Int("files", len(res.Files)))
	content := cutResult(res.Content, j.p.cfg.Tools.MaxResultBytes)
	if res.IsError {
		content = "The tool reported an error: " + content
	}
	if len(res.Files) > 0 {
		content += fmt.Sprintf("\n(%d file(s) will be attached to your reply.)", len(res.Files))
	}
	return content, res.Files, usage
}

// toolContext is what a tool may know about the caller: the user's
// timezone, whether the channel is age-restricted, the personality's name.
func (j *job) toolContext(ctx context.Context) abi.ToolContext {
	tc := abi.ToolContext{Timezone: j.user.Timezone, PersonalityName: personalityName(*j.personality)}
	if ch := j.p.channels; ch != nil && !j.msg.IsDM() {
		nsfw, err := ch.ChannelNSFW(ctx, j.msg.ChannelID)
		if err != nil {
			j.log.Info("cannot tell whether the channel is age-restricted; treating it as not", slog.Any("err", err))
		}
		tc.NSFWAllowed = err == nil && nsfw
	}
	return tc
}

// logStep writes the one line each tool step gets (the job's logger
// carries the request id).
func (j *job) logStep(tc abi.ToolCall, spec ToolSpec, outcome string, took time.Duration, attrs ...slog.Attr) {
	args := []any{slog.String("tool", printableName(tc.Name)), slog.String("entry", spec.Entry),
		slog.String("outcome", outcome), slog.Duration("duration", took), slog.String("tool_call_id", printableName(tc.ID))}
	for _, a := range attrs {
		args = append(args, a)
	}
	level := slog.LevelInfo
	if outcome == outcomeFailed || outcome == outcomeNotAvailable {
		level = slog.LevelWarn
	}
	j.log.Log(context.Background(), level, "tool step", args...)
}

// toolFailure words a failed tool call for the model: the plugin's own
// error message (already scrubbed of keys by the host), else its code.
func toolFailure(err error) string {
	var ae *abi.Error
	if errors.As(err, &ae) {
		msg := ae.Message
		if len(msg) > 300 {
			msg = cutResult(msg, 300)
		}
		return ae.Code + ": " + msg
	}
	return "internal error"
}

// cutResult cuts s to at most n bytes at a character boundary, saying so.
func cutResult(s string, n int) string {
	if len(s) <= n {
		return s
	}
	note := "\n[cut: the result was " + strconv.Itoa(len(s)) + " bytes]"
	end := max(n-len(note), 0)
	for end > 0 && end < len(s) && s[end]&0xC0 == 0x80 {
		end--
	}
	return s[:end] + note
}

// printableName keeps a model-written name fit for a log line or a message.
func printableName(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// FileSender posts a personality's reply with files (*discord.Sender does):
// files over limit are left off with a notice line in the text.
type FileSender interface {
	SendFilesAsPersonality(ctx context.Context, channelID, threadParentID, name, avatarURL, text string, files []File, limit int64) ([]string, error)
}

// postFiles posts the reply with the files tools attached. It reports
// false when there are none (post the usual way). In DMs, or with a
// sender that cannot attach files, the text goes out with a note instead.
func (j *job) postFiles(ctx context.Context, text string) ([]string, bool, error) {
	if len(j.files) == 0 {
		return nil, false, nil
	}
	fs, ok := j.p.sender.(FileSender)
	if !ok || j.msg.IsDM() {
		j.log.Info("files from tools cannot be attached here; posting the text with a note", slog.Int("files", len(j.files)))
		note := fmt.Sprintf("(%d image(s) could not be attached here.)", len(j.files))
		if strings.TrimSpace(text) == "" {
			text = note
		} else {
			text += "\n" + note
		}
		j.files = nil
		ids, err := j.post(ctx, text, nil)
		return ids, true, err
	}
	files := make([]File, len(j.files))
	for i, f := range j.files {
		files[i] = File{Name: f.Filename, Data: f.Data}
	}
	j.stats.Sending = time.Now()
	pers := j.personality
	if j.live != nil {
		if j.live.live.Stop(); j.live.live.Shown() {
			// The words are already in the channel: finish them, then the
			// files follow in a message of their own.
			ids, err := j.live.live.Finish(ctx, text, nil)
			if err != nil {
				return ids, true, err
			}
			more, err := fs.SendFilesAsPersonality(ctx, j.msg.ChannelID, j.msg.ThreadParentID, personalityName(*pers), pers.AvatarURL, "", files, j.p.cfg.UploadLimit)
			return append(ids, more...), true, err
		}
	}
	ids, err := fs.SendFilesAsPersonality(ctx, j.msg.ChannelID, j.msg.ThreadParentID, personalityName(*pers), pers.AvatarURL, text, files, j.p.cfg.UploadLimit)
	return ids, true, err
}

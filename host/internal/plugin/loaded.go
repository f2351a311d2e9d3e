package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tetratelabs/wazero/sys"

	"github.com/tzurot-go/tzurot/host/internal/metrics"
	"github.com/tzurot-go/tzurot/host/internal/paramschema"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

// loaded is one plugin entry that passed every check: compiled, described,
// with its pool. Everything in it is fixed for its lifetime; a reload
// builds new ones.
type loaded struct {
	cfg     PluginConfig
	sha256  string
	desc    abi.Description
	rules   *paramschema.Rules // nil: the plugin declares no parameter rules
	exports []string           // sorted
	// bulkInput: the plugin exports abi.BulkInputExport, so its input is
	// not copied into Extism kernel memory (it reads blob abi.InputBlob).
	bulkInput bool
	log       *slog.Logger
	keys      KeySource
	http      *httpPolicy
	shared    *sharedCompiled // the compiled module, shared with entries of the same file
	pool      *pool
	// probeLimit bounds starting an instance and describe at load.
	probeLimit time.Duration
	// describeOut is what describe returned (at this load or, from the
	// describe cache, at an earlier one) and describeKey its cache key ("":
	// no cache); probed is set once describe has run in this process.
	describeOut []byte
	describeKey string
	descs       *describeCache
	probed      atomic.Bool
	// warming admits one warm-up at a time (a token), so a second WarmUp
	// waits for the first instead of returning before it is done.
	warming chan struct{}
	// failure is why the entry stopped serving after it was listed as
	// loaded: its module did not compile, or it no longer starts or
	// describes itself as it did (Host.WarmUp). nil while it is fine.
	failure atomic.Pointer[string]
	// voiceSchema is the compiled Description.VoiceSchema, nil when the
	// plugin declares none.
	voiceSchema *jsonschema.Schema
	// imageSchema is the compiled Description.ImageSchema, nil when the
	// plugin declares none.
	imageSchema *jsonschema.Schema
	// tools are the plugin's declared tools by name, with their compiled
	// parameters schemas (tools.go); empty unless it is granted "tool".
	tools map[string]*toolDef

	calls   atomic.Uint64
	errors  atomic.Uint64
	metrics *metrics.Metrics // nil: not counted
}

// recycleBytes is the linear memory size past which an instance is closed
// after its call instead of going back to the pool: three quarters of the
// limit.
func (l *loaded) recycleBytes() int64 { return int64(l.cfg.Limits.MemoryMiB) << 20 * 3 / 4 }

// provider is the name usage rows carry: whose key (slot) paid for it.
func (l *loaded) provider() string {
	if l.cfg.KeySlot != "" {
		return l.cfg.KeySlot
	}
	return l.cfg.Name
}

// warmUp makes sure the entry's module is compiled and one instance of it
// is warm, and, when the load trusted a cached description, that the
// plugin still describes itself so (see Host.WarmUp).
func (l *loaded) warmUp(ctx context.Context) error {
	select {
	case l.warming <- struct{}{}:
		defer func() { <-l.warming }()
	case <-ctx.Done():
		return ctx.Err()
	}
	if r := l.failed(); r != "" {
		return errors.New(r)
	}
	if l.probed.Load() {
		return nil // described in this process already, with a warm instance
	}
	out, exports, err := l.probe(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return err // stopped, not failed: a later warm-up tries again
		}
		l.probed.Store(true)
		l.fail(ctx, err.Error())
		return err
	}
	l.probed.Store(true)
	if bytes.Equal(out, l.describeOut) && slices.Equal(exports, l.exports) {
		return nil
	}
	// It says something else now than the record the load trusted (a
	// describe that is not deterministic, or a record that was not the
	// truth). What it says now must pass the same checks; if it does, the
	// record is replaced for the next start and this set keeps the
	// description it was loaded with.
	fresh := &loaded{cfg: l.cfg}
	if err := fresh.checkDescribed(out, exports); err != nil {
		l.fail(ctx, err.Error())
		return err
	}
	if l.descs != nil {
		l.descs.put(l.describeKey, l.sha256, out, exports)
	}
	l.log.WarnContext(ctx, "plugin describes itself differently than when it was loaded (cached description); the new description is used from the next start or reload")
	return nil
}

// fail takes the entry out of service for the rest of its set's life: it
// is listed as refused with reason, and calls are refused with it. Only the
// first reason is kept (and logged).
func (l *loaded) fail(ctx context.Context, reason string) {
	if l.failure.CompareAndSwap(nil, &reason) {
		l.log.ErrorContext(ctx, "plugin failed after it was listed as loaded; calls to it are refused until a reload or restart", "reason", reason)
	}
}

// failed returns why the entry stopped serving ("" while it serves).
func (l *loaded) failed() string {
	if r := l.failure.Load(); r != nil {
		return *r
	}
	return ""
}

func (l *loaded) close() {
	if l.pool != nil {
		l.pool.close()
	}
	if l.shared != nil {
		l.shared.release()
	}
	l.http.close()
}

// callError is a failure the plugin did not report itself (trap, timeout,
// out of memory, oversized output). It reads as the user-fit *abi.Error and
// unwraps to both that and the cause.
type callError struct {
	e     *abi.Error
	cause error
}

func (c *callError) Error() string   { return c.e.Error() }
func (c *callError) Unwrap() []error { return []error{c.e, c.cause} }

// errOutputTooLarge is the cause of an oversized-output failure.
var errOutputTooLarge = errors.New("output larger than max_response_bytes")

// errPluginExited is the cause of a call whose guest called exit.
var errPluginExited = errors.New("the plugin called exit (WASI proc_exit)")

// guestExit reports whether the guest ended its instance with WASI
// proc_exit during the call, and with which code. Extism turns exit(0)
// into a successful call with the output written so far, so the
// instance's close notification is the only sign of it.
func guestExit(inst *instance, callErr error) (uint32, bool) {
	var ee *sys.ExitError
	if errors.As(callErr, &ee) {
		switch ee.ExitCode() {
		case sys.ExitCodeContextCanceled, sys.ExitCodeDeadlineExceeded:
			return 0, false // stopped by the host, not an exit
		}
		return ee.ExitCode(), true
	}
	if callErr == nil && inst.ended.Load() {
		return 0, true
	}
	return 0, false
}

// call runs one export on a pooled instance with a fresh call state.
func (l *loaded) call(ctx context.Context, export string, input []byte) ([]byte, *callState, error) {
	l.calls.Add(1)
	start := time.Now()
	out, st, err := l.run(ctx, export, input)
	l.metrics.PluginCall(l.cfg.Name, export, callResult(err), time.Since(start))
	if err != nil {
		l.errors.Add(1)
		// The ABI promises callers only its own codes.
		onlyKnownCode(err)
	}
	return out, st, err
}

// callResult sorts a call's outcome for the metrics: the plugin's own
// error, a timeout, or any other failure the host caught (a trap).
func callResult(err error) string {
	var ce *callError
	switch {
	case err == nil:
		return metrics.CallOK
	case !errors.As(err, &ce):
		return metrics.CallError
	case ce.e.Code == abi.ErrTimeout:
		return metrics.CallTimeout
	}
	return metrics.CallTrap
}

func (l *loaded) run(ctx context.Context, export string, input []byte) ([]byte, *callState, error) {
	st := newCallState(ctx, l)
	st.input = input
	if err := ctx.Err(); err != nil {
		// Do not spend (and then discard) an instance on a call already over.
		return nil, st, &callError{l.classifyTrap(ctx, false, "", ""), err}
	}
	// A new instance's start function gets the call's own bound.
	inst, err := l.pool.get(withStartTimeout(ctx, l.cfg.Limits.CallTimeout))
	if err != nil {
		var se *startError
		var ce *compileError
		var we *compileWaitError
		if errors.As(err, &ce) {
			l.fail(ctx, l.compileFailure(ce).Error())
			return nil, st, &callError{&abi.Error{Code: abi.ErrUnavailable, Message: fmt.Sprintf("plugin %s could not be loaded: its code does not compile (the host log and `tzurot plugins list` say why)", l.cfg.Name)}, err}
		}
		if errors.As(err, &we) {
			return nil, st, &callError{&abi.Error{Code: abi.ErrTimeout, Message: "the plugin was still starting (compiling) when the request gave up", Retryable: true}, err}
		}
		if errors.As(err, &se) && se.timedOut {
			l.log.ErrorContext(ctx, "plugin instance did not start", "err", se)
			return nil, st, &callError{&abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the plugin's start function did not finish within %s", se.limit)}, se}
		}
		if ctx.Err() != nil {
			return nil, st, &callError{&abi.Error{Code: abi.ErrTimeout, Message: "every instance of the plugin was busy until the request gave up", Retryable: true}, err}
		}
		l.log.ErrorContext(ctx, "cannot start plugin instance", "err", err)
		return nil, st, &callError{&abi.Error{Code: abi.ErrInternal, Message: "the plugin could not be started"}, err}
	}
	st.inst = inst

	cctx, cancel := context.WithTimeout(withState(ctx, st), l.cfg.Limits.CallTimeout)
	rc, out, callErr := inst.call(cctx, st, export, input, l.bulkInput)
	callTimedOut := errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	st.finish()

	var typed string
	if callErr != nil {
		// Extism reports a plugin's own error (error_set + non-zero return)
		// and a trap the same way; the kernel still holds the former.
		typed = inst.errorText(ctx)
	}
	stdio := inst.stdioText()
	inst.flushStdio(ctx, l.log, st)
	if st.logDropped > 0 {
		l.log.WarnContext(ctx, "plugin log lines dropped", "request_id", st.call.RequestID, "dropped", st.logDropped, "max_log_lines", l.cfg.Limits.MaxLogLines)
	}
	st.emits.report(ctx, l.log, st.call.RequestID, l.cfg.Limits.MaxResponseBytes)
	tooLarge := st.outputCapped || int64(len(out)) > l.cfg.Limits.MaxResponseBytes
	// A guest that called exit (WASI proc_exit) closed its module: whatever
	// it wrote before is not an answer, and the instance is gone.
	exitCode, exited := guestExit(inst, callErr)
	healthy := callErr == nil && rc == 0 && !tooLarge && !inst.ended.Load()
	if healthy && inst.guestMem != nil && int64(len(inst.guestMem.buf)) > l.recycleBytes() {
		// Wasm memory never shrinks, and a Go guest whose GC falls behind
		// grows ~1 MiB per call until it dies of out-of-memory mid-call.
		// Retiring the instance here costs one instance start instead.
		healthy = false
		l.log.DebugContext(ctx, "plugin instance recycled", "memory_mib", len(inst.guestMem.buf)>>20, "limit_mib", l.cfg.Limits.MemoryMiB)
	}
	l.pool.put(inst, healthy)

	switch {
	case callErr != nil && strings.HasPrefix(callErr.Error(), initPrefix):
		// The instance's first call ran the guest runtime's _initialize
		// (Go package initialisers) first, and that never got to the export.
		se := &startError{cause: callErr, export: "start function (_initialize)"}
		e := l.classifyTrap(ctx, callTimedOut, stdio, callErr.Error())
		switch {
		case callTimedOut:
			se.timedOut, se.limit = true, l.cfg.Limits.CallTimeout
			e = &abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the plugin's start function did not finish within %s", l.cfg.Limits.CallTimeout)}
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			se.timedOut = true
		case ctx.Err() != nil:
			se.cancelled = true
		default:
			e = &abi.Error{Code: abi.ErrInternal, Message: "the plugin's start function failed"}
		}
		l.log.WarnContext(ctx, "plugin start function failed", "request_id", st.call.RequestID, "export", export, "code", e.Code, "err", callErr)
		return nil, st, &callError{e, se}
	case st.outputCapped:
		// Stopped before Extism copied the output out (outputcap.go).
		l.log.WarnContext(ctx, "plugin output over max_response_bytes refused", "request_id", st.call.RequestID, "export", export, "max_response_bytes", l.cfg.Limits.MaxResponseBytes)
		return nil, st, &callError{&abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the plugin's answer was larger than its %d-byte limit", l.cfg.Limits.MaxResponseBytes)}, errOutputTooLarge}
	case exited && !callTimedOut && ctx.Err() == nil:
		e := &abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the plugin exited (exit code %d) instead of returning from %s", exitCode, export)}
		l.log.WarnContext(ctx, "plugin exited", "request_id", st.call.RequestID, "export", export, "exit_code", exitCode)
		return nil, st, &callError{e, errPluginExited}
	case callErr != nil && typed != "" && typed == callErr.Error():
		return nil, st, st.pluginError(typed)
	case callErr != nil:
		e := l.classifyTrap(ctx, callTimedOut, stdio, callErr.Error())
		l.log.WarnContext(ctx, "plugin call failed", "request_id", st.call.RequestID, "export", export, "code", e.Code, "err", callErr)
		return nil, st, &callError{e, callErr}
	case rc != 0:
		return nil, st, &abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the plugin failed without saying why (return code %d)", rc)}
	case tooLarge:
		return nil, st, &callError{&abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the plugin's answer was larger than its %d-byte limit", l.cfg.Limits.MaxResponseBytes)}, errOutputTooLarge}
	}
	return out, st, nil
}

func (l *loaded) classifyTrap(ctx context.Context, callTimedOut bool, stdio, trap string) *abi.Error {
	switch {
	case strings.Contains(trap, "extism:host/env.http_request"):
		return &abi.Error{Code: abi.ErrDenied, Message: "the plugin used Extism's built-in HTTP, which this host switches off (plugins use " + abi.HostNamespace + " http_request)"}
	case strings.Contains(trap, "extism:host/env.var_set"):
		return &abi.Error{Code: abi.ErrDenied, Message: "the plugin used Extism vars, which this host disables (instances are shared between users)"}
	case callTimedOut:
		return &abi.Error{Code: abi.ErrTimeout, Message: fmt.Sprintf("the plugin did not answer within %s", l.cfg.Limits.CallTimeout), Retryable: true}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &abi.Error{Code: abi.ErrTimeout, Message: "the request took too long", Retryable: true}
	case errors.Is(context.Cause(ctx), errHostClosed):
		return &abi.Error{Code: abi.ErrUnavailable, Message: errHostClosed.Error(), Retryable: true}
	case ctx.Err() != nil:
		return &abi.Error{Code: abi.ErrInternal, Message: "the request was cancelled"}
	case strings.Contains(stdio, "out of memory"):
		return &abi.Error{Code: abi.ErrInternal, Message: fmt.Sprintf("the plugin ran out of memory (limit %d MiB)", l.cfg.Limits.MemoryMiB)}
	case strings.Contains(stdio, "panic:"):
		return &abi.Error{Code: abi.ErrInternal, Message: "the plugin crashed"}
	default:
		return &abi.Error{Code: abi.ErrInternal, Message: "the plugin failed unexpectedly"}
	}
}

// maxErrorText caps what a plugin's error may put in front of a user.
const maxErrorText = 1000

// parsePluginError reads a plugin's error: abi.Error JSON, or plain text
// (then code "internal"). The message is whole: the caller scrubs keys from
// it and then cuts it to maxErrorText.
func parsePluginError(s string) *abi.Error {
	var e abi.Error
	if err := json.Unmarshal([]byte(s), &e); err != nil || e.Code == "" {
		e = abi.Error{Code: abi.ErrInternal, Message: s}
	}
	return &e
}

// grants reports whether the plugin both asked for and was granted cap.
func (l *loaded) grants(capability string) bool {
	has := func(list []string) bool {
		for _, c := range list {
			if c == capability {
				return true
			}
		}
		return false
	}
	return has(l.cfg.Capabilities) && has(l.desc.Capabilities)
}

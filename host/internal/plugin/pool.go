package plugin

import (
	"context"
	"sync"
	"time"
)

// pool bounds the live instances of one plugin entry: at most size exist
// at once, which caps the plugin's CPU and memory. An instance serves one
// call at a time (extism instances are not goroutine-safe) and is closed,
// never reused, after any failure.
type pool struct {
	// mod is compiled on first need; a new instance waits for it.
	mod *sharedCompiled
	// config and timeout are the entry's: the compiled module may be shared
	// with other entries of the same file, so each instance is given them.
	config  map[string]string
	timeout time.Duration
	permits chan struct{}  // a token per live-or-being-used instance
	idle    chan *instance // warm instances ready for a call
	// waited, when set, is told how long a call waited for a free slot
	// (only calls that found every slot taken).
	waited func(time.Duration)

	mu     sync.Mutex
	closed bool
}

func newPool(mod *sharedCompiled, pc PluginConfig) *pool {
	return &pool{
		mod:     mod,
		config:  pc.Config,
		timeout: pc.Limits.CallTimeout,
		permits: make(chan struct{}, pc.Limits.PoolSize),
		idle:    make(chan *instance, pc.Limits.PoolSize),
	}
}

// newInstance starts an instance with this entry's config (what the
// plugin's config_get reads) and call timeout.
// The first one waits (as long as ctx allows) for the module to compile.
func (p *pool) newInstance(ctx context.Context) (*instance, error) {
	compiled, err := p.mod.get(ctx)
	if err != nil {
		return nil, err
	}
	inst, err := newInstance(ctx, compiled)
	if err != nil {
		return nil, err
	}
	if inst.plugin.Config = p.config; inst.plugin.Config == nil {
		inst.plugin.Config = map[string]string{}
	}
	inst.plugin.Timeout = p.timeout
	return inst, nil
}

// get waits for a free slot and returns a warm instance or a new one.
func (p *pool) get(ctx context.Context) (*instance, error) {
	select {
	case p.permits <- struct{}{}:
	default:
		start := time.Now()
		select {
		case p.permits <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if p.waited != nil {
			p.waited(time.Since(start))
		}
	}
	select {
	case inst := <-p.idle:
		if inst.owner == "" || inst.owner == ownerOf(callOf(ctx)) {
			return inst, nil
		}
		// It read another user's raw key (which may sit in its globals):
		// never reused for anyone else.
		inst.close()
	default:
	}
	inst, err := p.newInstance(ctx)
	if err != nil {
		<-p.permits
		return nil, err
	}
	return inst, nil
}

// put gives an instance back after a call. A failed call's instance is
// closed: its state after a trap, timeout or error is not to be trusted.
func (p *pool) put(inst *instance, healthy bool) {
	defer func() { <-p.permits }()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if !healthy || closed || inst.exposure.full() {
		inst.close()
		return
	}
	select {
	case p.idle <- inst:
	default:
		inst.close() // cannot happen with permits == idle capacity; be safe
	}
}

// close closes the idle instances; instances still in use are closed when
// they come back. The caller makes sure no call is running.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case inst := <-p.idle:
			inst.close()
		default:
			return
		}
	}
}

// inUse is how many instances are serving a call (or starting for one).
func (p *pool) inUse() int { return len(p.permits) }

// idleCount is for tests and status: warm instances waiting.
func (p *pool) idleCount() int { return len(p.idle) }

// ownerOf is who an instance that reads c's raw key belongs to.
func ownerOf(c Call) string { return "user:" + c.UserID }

func callOf(ctx context.Context) Call {
	c, _ := CallFrom(ctx)
	return c
}

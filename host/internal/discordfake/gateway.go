package discordfake

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/zstd"
)

// HeartbeatACKDelay is how long the fake waits before acknowledging a heartbeat. Instant ACKs on
// loopback make disgo v0.19 declare the connection a zombie (it records the send time after the
// write returns).
const HeartbeatACKDelay = 5 * time.Millisecond

// Identify is a recorded IDENTIFY (op 2).
type Identify struct {
	Token    string
	Intents  int
	Shard    [2]int
	Compress string // the compress query parameter: "", "zstd-stream" or "zlib-stream"
}

type gatewayServer struct {
	s        *Server
	upgrader websocket.Upgrader

	mu         sync.Mutex
	conns      map[*gwConn]bool
	identifies []Identify
	resumes    int
	ready      chan struct{} // closed at the first READY
	readyOnce  sync.Once
}

func newGateway(s *Server) *gatewayServer {
	return &gatewayServer{s: s, conns: map[*gwConn]bool{}, ready: make(chan struct{})}
}

// gwConn is one websocket session.
type gwConn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	seq     int
	ready   bool
	enc     func([]byte) ([]byte, error) // stream compression, or nil
	binary  bool
	session string
}

func (c *gwConn) send(v any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.sendLocked(v)
}

func (c *gwConn) sendLocked(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if c.enc != nil {
		if data, err = c.enc(data); err != nil {
			return err
		}
	}
	typ := websocket.TextMessage
	if c.binary {
		typ = websocket.BinaryMessage
	}
	return c.ws.WriteMessage(typ, data)
}

// dispatch sends an event with the next sequence number.
func (c *gwConn) dispatch(t string, d any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.seq++
	return c.sendLocked(map[string]any{"op": 0, "t": t, "s": c.seq, "d": d})
}

func (g *gatewayServer) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader already answered
	}
	c := &gwConn{ws: ws}
	switch compress := r.URL.Query().Get("compress"); compress {
	case "zstd-stream":
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			_ = ws.Close()
			return
		}
		c.binary = true
		c.enc = func(p []byte) ([]byte, error) {
			buf.Reset()
			if _, err := zw.Write(p); err != nil {
				return nil, err
			}
			if err := zw.Flush(); err != nil {
				return nil, err
			}
			return bytes.Clone(buf.Bytes()), nil
		}
	case "zlib-stream":
		var buf bytes.Buffer
		zw := zlib.NewWriter(&buf)
		c.binary = true
		c.enc = func(p []byte) ([]byte, error) {
			buf.Reset()
			if _, err := zw.Write(p); err != nil {
				return nil, err
			}
			if err := zw.Flush(); err != nil {
				return nil, err
			}
			return bytes.Clone(buf.Bytes()), nil
		}
	}
	g.mu.Lock()
	g.conns[c] = true
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
		_ = ws.Close()
	}()

	// A long interval: tests do not wait for heartbeats, and disgo sends one at once anyway.
	if err := c.send(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 41250}}); err != nil {
		return
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var msg struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if json.Unmarshal(data, &msg) != nil {
			g.closeWith(c, 4002, "Error while decoding payload.")
			return
		}
		switch msg.Op {
		case 1: // heartbeat
			go func() {
				time.Sleep(HeartbeatACKDelay)
				_ = c.send(map[string]any{"op": 11})
			}()
		case 2: // identify
			var id struct {
				Token   string `json:"token"`
				Intents int    `json:"intents"`
				Shard   [2]int `json:"shard"`
			}
			_ = json.Unmarshal(msg.D, &id)
			g.mu.Lock()
			g.identifies = append(g.identifies, Identify{Token: id.Token, Intents: id.Intents, Shard: id.Shard,
				Compress: r.URL.Query().Get("compress")})
			g.mu.Unlock()
			if id.Token != g.s.Token {
				g.closeWith(c, 4004, "Authentication failed.")
				return
			}
			c.session = g.s.NewID()
			if err := g.dispatchAndMarkReady(c, "READY", g.readyPayload(c, id.Shard)); err != nil {
				return
			}
		case 6: // resume
			g.mu.Lock()
			g.resumes++
			g.mu.Unlock()
			if err := g.dispatchAndMarkReady(c, "RESUMED", nil); err != nil {
				return
			}
		}
	}
}

// dispatchAndMarkReady marks the session ready and sends READY (or RESUMED) under the
// connection's write lock. The client may return from Open as soon as READY arrives and a test may
// Dispatch at once, so the session must already count as ready by then; a Dispatch that comes
// earlier waits on the write lock and goes out after READY, as on the real gateway.
func (g *gatewayServer) dispatchAndMarkReady(c *gwConn, t string, d any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	g.markReady(c)
	c.seq++
	return c.sendLocked(map[string]any{"op": 0, "t": t, "s": c.seq, "d": d})
}

func (g *gatewayServer) markReady(c *gwConn) {
	g.mu.Lock()
	c.ready = true
	g.mu.Unlock()
	g.readyOnce.Do(func() { close(g.ready) })
}

func (g *gatewayServer) readyPayload(c *gwConn, shard [2]int) map[string]any {
	if shard[1] == 0 {
		shard = [2]int{0, 1}
	}
	return map[string]any{
		"v":                  10,
		"user":               map[string]any{"id": g.s.AppID, "username": "fake-bot", "discriminator": "0", "bot": true},
		"guilds":             []any{},
		"session_id":         c.session,
		"resume_gateway_url": g.s.GatewayURL(),
		"shard":              shard,
		"application":        map[string]any{"id": g.s.AppID, "flags": 0},
	}
}

func (g *gatewayServer) closeWith(c *gwConn, code int, text string) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

func (g *gatewayServer) closeAll() {
	g.mu.Lock()
	conns := make([]*gwConn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.Close()
	}
}

func (g *gatewayServer) readyConns() []*gwConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*gwConn
	for c := range g.conns {
		if c.ready {
			out = append(out, c)
		}
	}
	return out
}

// ---- Server methods for the gateway --------------------------------------------------------

// Identifies returns every IDENTIFY received.
func (s *Server) Identifies() []Identify {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return slices.Clone(s.gw.identifies)
}

// Resumes counts RESUME commands received.
func (s *Server) Resumes() int {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return s.gw.resumes
}

// WaitReady waits until a gateway session has received READY.
func (s *Server) WaitReady(ctx context.Context) error {
	select {
	case <-s.gw.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no gateway session became ready: %w", ctx.Err())
	}
}

// Dispatch sends an event (t is the event name, e.g. "MESSAGE_CREATE"; d is raw JSON or a value
// to marshal) to every ready gateway session.
func (s *Server) Dispatch(t string, d any) error {
	if raw, ok := d.([]byte); ok {
		d = json.RawMessage(raw)
	}
	conns := s.gw.readyConns()
	if len(conns) == 0 {
		return errors.New("discordfake: no gateway session is ready")
	}
	for _, c := range conns {
		if err := c.dispatch(t, d); err != nil {
			return fmt.Errorf("dispatch %s: %w", t, err)
		}
	}
	return nil
}

// Disconnect closes every gateway session with code (4000 "unknown error" makes disgo reconnect
// and RESUME).
func (s *Server) Disconnect(code int) {
	for _, c := range s.gw.readyConns() {
		s.gw.closeWith(c, code, "fake disconnect")
		_ = c.ws.Close()
	}
}

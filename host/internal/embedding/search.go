package embedding

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/memory"
)

// vectorSet is one personality's vectors of one model, normalised, in one
// flat slice (row i is vecs[i*dims:(i+1)*dims]) so a scan walks memory in
// order.
type vectorSet struct {
	mu     sync.RWMutex
	dims   int
	ids    []int64
	vecs   []float32
	index  map[int64]int
	since  time.Time // created_at of the newest row read (database clock)
	loaded time.Time // when rows were last read (host clock)
}

// add appends id's vector (normalised) unless it is there or of another
// length.
func (v *vectorSet) add(id int64, vec []float32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.addLocked(id, vec)
}

func (v *vectorSet) addLocked(id int64, vec []float32) {
	if _, ok := v.index[id]; ok {
		return
	}
	if v.dims == 0 {
		v.dims = len(vec)
	}
	if len(vec) != v.dims {
		return // another length under the same model name: never compared
	}
	v.index[id] = len(v.ids)
	v.ids = append(v.ids, id)
	start := len(v.vecs)
	v.vecs = append(v.vecs, vec...)
	normalise(v.vecs[start:])
}

func normalise(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
}

// dot is the inner product of two vectors of one length, eight lanes at a
// time over re-sliced windows, so the compiler keeps the sums in
// registers and drops the bounds checks (about twice the plain loop).
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for len(a) >= 8 {
		x, y := a[:8:8], b[:8:8]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		s4 += x[4] * y[4]
		s5 += x[5] * y[5]
		s6 += x[6] * y[6]
		s7 += x[7] * y[7]
		a, b = a[8:], b[8:]
	}
	for i := range a {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3) + (s4 + s5) + (s6 + s7)
}

type hit struct {
	id    int64
	score float32
}

// top returns the k ids most similar to q (normalised), best first,
// optionally only among allowed (nil: all). Large sets are scanned in
// parts on every core, each keeping its own best k, merged at the end.
func (v *vectorSet) top(q []float32, k int, allowed map[int64]bool) []hit {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if len(q) != v.dims || k <= 0 {
		return nil
	}
	n := len(v.ids)
	parts := min(runtime.GOMAXPROCS(0), max(n/minPart, 1))
	if parts == 1 {
		return v.scan(q, k, allowed, 0, n)
	}
	results := make([][]hit, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[p] = v.scan(q, k, allowed, p*n/parts, (p+1)*n/parts)
		}()
	}
	wg.Wait()
	var all []hit
	for _, r := range results {
		all = append(all, r...)
	}
	slices.SortFunc(all, byScore)
	return all[:min(k, len(all))]
}

// minPart is the fewest vectors worth a goroutine of their own.
const minPart = 8192

func byScore(a, b hit) int {
	switch {
	case a.score > b.score:
		return -1
	case a.score < b.score:
		return 1
	}
	return cmp.Compare(a.id, b.id)
}

// scan keeps the best k of rows [from, to). A min-heap of k would do fewer
// moves; k is small (tens) and the dot products dominate, so a sorted
// slice with insertion is simpler and as fast.
func (v *vectorSet) scan(q []float32, k int, allowed map[int64]bool, from, to int) []hit {
	best := make([]hit, 0, k+1)
	d := v.dims
	for i := from; i < to; i++ {
		id := v.ids[i]
		if allowed != nil && !allowed[id] {
			continue
		}
		s := dot(q, v.vecs[i*d:(i+1)*d])
		if len(best) == k && s <= best[k-1].score {
			continue
		}
		j, _ := slices.BinarySearchFunc(best, hit{id, s}, byScore)
		best = slices.Insert(best, j, hit{id, s})
		if len(best) > k {
			best = best[:k]
		}
	}
	return best
}

// set returns personality's vectors of model, reading them (all of them
// the first time, the rows added since later, at most every Refresh).
func (s *Service) set(ctx context.Context, personality int64, model string) (*vectorSet, error) {
	key := setKey{personality, model}
	s.mu.Lock()
	v := s.sets[key]
	if v == nil {
		v = &vectorSet{index: map[int64]int{}}
		s.sets[key] = v
	}
	s.mu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.loaded.IsZero() && time.Since(v.loaded) < s.cfg.Refresh {
		return v, nil
	}
	// A second's overlap: rows committed out of created_at order are read
	// twice rather than missed (add skips known ids).
	since := v.since.Add(-time.Second)
	rows, err := s.pool.Query(ctx, `
SELECT memory_id, vector, created_at FROM memory_embeddings
WHERE personality_id = $1 AND model = $2 AND created_at >= $3`, personality, model, since)
	if err != nil {
		return nil, fmt.Errorf("load vectors: %w", err)
	}
	defer rows.Close()
	var (
		id  int64
		raw []byte
		at  time.Time
	)
	buf := []float32{}
	for rows.Next() {
		if err := rows.Scan(&id, &raw, &at); err != nil {
			return nil, fmt.Errorf("load vectors: %w", err)
		}
		buf = buf[:0]
		for i := 0; i+4 <= len(raw); i += 4 {
			buf = append(buf, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
		}
		v.addLocked(id, buf)
		if at.After(v.since) {
			v.since = at
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load vectors: %w", err)
	}
	v.loaded = time.Now()
	return v, nil
}

// memorySQL reads the memories among @ids that the user may see
// (memory.VisibleSQL, the one privacy rule). The rows are fetched by
// primary key first (a MATERIALIZED CTE the rule cannot be pushed into):
// with stale statistics after a large import the planner otherwise
// combined the GIN indexes of the rule, reading every row of the
// personality (1.5 s instead of 7 ms with 100k memories).
var memorySQL = `
WITH m AS MATERIALIZED (SELECT * FROM personality_memories WHERE id = ANY(@ids))
SELECT m.id, m.personality_id, m.content, m.importance, m.about_user_ids, m.present_user_ids, m.is_dm,
       coalesce(m.discord_channel_id, ''), coalesce(m.discord_guild_id, ''), m.formed_by,
       coalesce(m.remembered_at, m.created_at)
FROM m
WHERE m.personality_id = @personality AND ` + memory.VisibleSQL

// visibleSQL lists every memory of @personality the user may see: the
// candidates when the best vectors overall belong to others.
var visibleSQL = `SELECT m.id FROM personality_memories m WHERE m.personality_id = @personality AND ` + memory.VisibleSQL

// SearchMemories implements memory.VectorSearcher: the end of q.Text is
// embedded, the personality's vectors are ranked by cosine similarity in
// the host, and the best that q's user may see come back (Score is the
// similarity mapped to 0..1). The privacy rule is applied by PostgreSQL
// to the best 8×limit; when fewer than limit of those are the user's to
// see, the scan is done again over exactly the memories they may see.
func (s *Service) SearchMemories(ctx context.Context, q memory.Query, limit int) ([]memory.Memory, error) {
	text := []rune(q.Text)
	if len(text) > s.cfg.QueryChars {
		text = text[len(text)-s.cfg.QueryChars:]
	}
	if limit <= 0 || len(slices.DeleteFunc(slices.Clone(text), func(r rune) bool { return r == ' ' || r == '\n' })) == 0 {
		return nil, nil
	}
	resp, err := s.embed(ctx, q.PersonalityID, []string{string(text)})
	if err != nil {
		return nil, fmt.Errorf("embed the conversation: %w", err)
	}
	model := s.modelName()
	if s.cfg.Model == "" && resp.Model != "" {
		model = resp.Model
	}
	return s.searchVector(ctx, q, model, resp.Vectors[0], limit)
}

// searchVector is SearchMemories once the conversation is embedded as qv:
// in PostgreSQL when its vector extension is in use and the index of
// (model, len(qv)) is ready, else in the host.
func (s *Service) searchVector(ctx context.Context, q memory.Query, model string, qv []float32, limit int) ([]memory.Memory, error) {
	qv = slices.Clone(qv)
	normalise(qv)
	if schema, iterative, ok := s.pgFor(model, len(qv)); ok {
		out, err := s.searchPG(ctx, schema, iterative, model, q, qv, limit)
		if err == nil {
			s.pgSearches.Add(1)
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		// The extension was dropped, or the statement failed: this search
		// and the next go to the host until Run finds the extension again.
		s.log.WarnContext(ctx, "memory vector search in PostgreSQL failed; searching in the host", slog.Any("err", err))
		s.pgOff()
	}
	s.hostSearches.Add(1)
	set, err := s.set(ctx, q.PersonalityID, model)
	if err != nil {
		return nil, err
	}
	return s.rank(ctx, set, q, qv, limit)
}

// rank is SearchMemories after the query vector is known (benchmarks call
// it directly: the embed call is the plugin's time, not the search's).
func (s *Service) rank(ctx context.Context, set *vectorSet, q memory.Query, qv []float32, limit int) ([]memory.Memory, error) {
	args := pgx.NamedArgs{"personality": q.PersonalityID, "user": q.UserID, "is_dm": q.IsDM, "guild": nullable(q.GuildID)}
	hits := set.top(qv, 8*limit, nil)
	out, err := s.visible(ctx, args, hits, limit)
	if err != nil || len(out) >= limit || len(hits) < 8*limit {
		return out, err
	}
	// Most of the nearest belong to others: rank only what the user may see.
	rows, err := s.pool.Query(ctx, visibleSQL, args)
	if err != nil {
		return nil, fmt.Errorf("list visible memories: %w", err)
	}
	allowed, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list visible memories: %w", err)
	}
	ok := make(map[int64]bool, len(allowed))
	for _, id := range allowed {
		ok[id] = true
	}
	return s.visible(ctx, args, set.top(qv, limit, ok), limit)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// visible reads the hits the user may see, best first, at most limit.
func (s *Service) visible(ctx context.Context, args pgx.NamedArgs, hits []hit, limit int) ([]memory.Memory, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(hits))
	score := make(map[int64]float32, len(hits))
	for i, h := range hits {
		ids[i] = h.id
		score[h.id] = h.score
	}
	a := pgx.NamedArgs{"ids": ids}
	for k, v := range args {
		a[k] = v
	}
	rows, err := s.pool.Query(ctx, memorySQL, a)
	if err != nil {
		return nil, fmt.Errorf("read matching memories: %w", err)
	}
	defer rows.Close()
	var out []memory.Memory
	for rows.Next() {
		var m memory.Memory
		if err := rows.Scan(&m.ID, &m.PersonalityID, &m.Content, &m.Importance, &m.AboutUserIDs, &m.PresentUserIDs, &m.IsDM,
			&m.ChannelID, &m.GuildID, &m.FormedBy, &m.RememberedAt); err != nil {
			return nil, fmt.Errorf("read matching memories: %w", err)
		}
		m.Score = float64(max(score[m.ID], 0))
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read matching memories: %w", err)
	}
	slices.SortFunc(out, func(a, b memory.Memory) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// decode is memory_embeddings.vector as float32s.
func decode(raw []byte) []float32 {
	v := make([]float32, 0, len(raw)/4)
	for i := 0; i+4 <= len(raw); i += 4 {
		v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
	}
	return v
}

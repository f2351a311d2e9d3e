package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// benchFixture is one personality the way replies see it: aliases, a default
// LLM config, a user override and a voice config; plus a user with a key.
type benchFixture struct {
	s       *store.Store
	pid     int64
	user    store.User
	discord string
}

func newBenchFixture(b *testing.B) benchFixture {
	b.Helper()
	ctx := context.Background()
	s := newStore(b)
	pid := createPersonality(b, s, "bench")
	for i := range 5 {
		if err := s.AddAlias(ctx, pid, fmt.Sprintf("bench alias %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	// Other personalities and aliases, so lookups are not against a tiny table.
	for i := range 200 {
		id := createPersonality(b, s, fmt.Sprintf("filler-%03d", i))
		if err := s.AddAlias(ctx, id, fmt.Sprintf("filler %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	u, err := s.UserByDiscordID(ctx, snowflake())
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetLLMConfig(ctx, pid, 0, store.LLMConfig{Provider: "openrouter", Model: "openai/gpt-4o", AdvancedParameters: json.RawMessage(`{"temperature":0.9}`)}); err != nil {
		b.Fatal(err)
	}
	if err := s.SetLLMConfig(ctx, pid, u.ID, store.LLMConfig{Provider: "openrouter", Model: "anthropic/claude-sonnet-4", AdvancedParameters: json.RawMessage(`{"thinking":"high"}`)}); err != nil {
		b.Fatal(err)
	}
	if err := s.SetVoiceConfig(ctx, pid, store.DefaultVoiceConfig()); err != nil {
		b.Fatal(err)
	}
	if err := s.SetAPIKey(ctx, u.DiscordID, "openrouter", "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"); err != nil {
		b.Fatal(err)
	}
	return benchFixture{s: s, pid: pid, user: u, discord: u.DiscordID}
}

// timed runs op b.N times and reports p50 and p99 latency next to ns/op.
func timed(b *testing.B, op func(i int) error) {
	b.Helper()
	lat := make([]time.Duration, 0, 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

var benchSeq atomic.Int64

func BenchmarkReadUserWithPreferences(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	timed(b, func(int) error { _, err := f.s.UserByDiscordID(ctx, f.discord); return err })
}

func BenchmarkReadPersonalityWithAliasesAndConfigs(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	timed(b, func(int) error {
		p, err := f.s.PersonalityByID(ctx, f.pid, f.user.ID)
		if err == nil && (!p.LLM.UserOverride || len(p.Aliases) != 5 || p.Voice == nil) {
			err = fmt.Errorf("incomplete personality %+v", p.LLM)
		}
		return err
	})
}

func BenchmarkReadAPIKeyAndDecrypt(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	timed(b, func(int) error { _, _, err := f.s.APIKey(ctx, f.discord, "openrouter"); return err })
}

func BenchmarkWriteUsageRow(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	timed(b, func(int) error {
		_, err := f.s.InsertUsage(ctx, store.Usage{RequestID: fmt.Sprintf("bench-%d", benchSeq.Add(1)), UserID: f.user.ID, PersonalityID: f.pid,
			Provider: "openrouter", Model: "anthropic/claude-sonnet-4", Kind: store.KindText, InputTokens: 1200, OutputTokens: 300, Latency: 2 * time.Second})
		return err
	})
}

func BenchmarkWriteMessageMapping(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	timed(b, func(int) error {
		return f.s.RecordWebhookMessage(ctx, store.WebhookMessage{MessageID: fmt.Sprint(1_300_000_000_000_000_000 + benchSeq.Add(1)),
			PersonalityID: f.pid, ChannelID: "111111111111111111", UserID: f.user.ID})
	})
}

func BenchmarkTakeRateLimit(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	timed(b, func(int) error {
		_, _, err := f.s.TakeRateLimit(ctx, time.Now(), "user-rpm", f.discord, time.Minute, 1<<40, 1)
		return err
	})
}

// BenchmarkReplyMixParallel is the database work of one reply, on every core:
// read the user, the personality and the key, take the rate limit, write the
// usage row and the message mapping. Its ops/s is replies per second the data
// layer could carry.
func BenchmarkReplyMixParallel(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := benchSeq.Add(1)
			u, err := f.s.UserByDiscordID(ctx, f.discord)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := f.s.PersonalityByID(ctx, f.pid, u.ID); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := f.s.TakeRateLimit(ctx, time.Now(), "user-rpm", f.discord, time.Minute, 1<<40, 1); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := f.s.APIKey(ctx, f.discord, "openrouter"); err != nil {
				b.Error(err)
				return
			}
			if _, err := f.s.InsertUsage(ctx, store.Usage{RequestID: fmt.Sprintf("mix-%d", n), UserID: u.ID, PersonalityID: f.pid,
				Provider: "openrouter", Model: "m", Kind: store.KindText, InputTokens: 1000, OutputTokens: 200}); err != nil {
				b.Error(err)
				return
			}
			if err := f.s.RecordWebhookMessage(ctx, store.WebhookMessage{MessageID: fmt.Sprint(1_200_000_000_000_000_000 + n),
				PersonalityID: f.pid, ChannelID: "111111111111111111", UserID: u.ID}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "replies/s")
}

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/store"
)

func TestVoiceParametersOutOfRangeAreRefused(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	s := store.New(pool, nil, nil)
	pid := createPersonality(t, s, "voiced")
	good := store.DefaultVoiceConfig()
	good.VoiceID = "keep-me"
	if err := s.SetVoiceConfig(ctx, pid, good); err != nil {
		t.Fatal(err)
	}
	nan := 0.0
	nan = nan / nan
	for _, c := range []struct {
		param string
		set   func(*store.VoiceConfig)
	}{
		{"stability", func(v *store.VoiceConfig) { v.Stability = 1.01 }},
		{"similarity", func(v *store.VoiceConfig) { v.Similarity = -0.1 }},
		{"style", func(v *store.VoiceConfig) { v.Style = 2 }},
		{"frequency", func(v *store.VoiceConfig) { v.Frequency = nan }},
	} {
		v := good
		v.VoiceID = "changed"
		c.set(&v)
		err := s.SetVoiceConfig(ctx, pid, v)
		var pe *store.VoiceParamError
		if !errors.Is(err, store.ErrVoiceParamRange) || !errors.As(err, &pe) || pe.Param != c.param {
			t.Errorf("%s: err = %v", c.param, err)
		}
		if err != nil && !strings.Contains(err.Error(), "between 0 and 1") {
			t.Errorf("%s: unclear error %v", c.param, err)
		}
	}
	// The database refuses too, whatever writes to it.
	_, err := pool.Exec(ctx, `UPDATE voice_configs SET style = 1.5 WHERE personality_id = $1`, pid)
	if err == nil || !strings.Contains(err.Error(), "voice_configs_style_range") {
		t.Fatalf("database accepted style 1.5: %v", err)
	}
	p, err := s.PersonalityByID(ctx, pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Voice == nil || p.Voice.VoiceID != "keep-me" || p.Voice.Style != 0 {
		t.Fatalf("voice config changed by refused writes: %+v", p.Voice)
	}
}

func TestVoiceSampleLimits(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	s := store.New(pool, nil, nil)
	pid := createPersonality(t, s, "sampled")

	big := bytes.Repeat([]byte{0xff}, store.MaxVoiceSampleBytes+1)
	if _, err := s.AddVoiceSample(ctx, pid, big, "audio/mpeg", time.Second); !errors.Is(err, store.ErrSampleTooLarge) || !strings.Contains(err.Error(), "10 MB") {
		t.Fatalf("too large: %v", err)
	}
	// The database enforces the size on its own.
	if _, err := pool.Exec(ctx, `INSERT INTO voice_samples (personality_id, data, mime_type) VALUES ($1, $2, 'audio/mpeg')`, pid, big); err == nil {
		t.Fatal("database accepted an 10 MB + 1 byte sample")
	}
	if _, err := s.AddVoiceSample(ctx, pid, []byte("RIFF...."), "text/plain", 0); !errors.Is(err, store.ErrInvalidInput) || !strings.Contains(err.Error(), "audio") {
		t.Fatalf("non-audio: %v", err)
	}

	// Exactly 10 MB is fine.
	if _, err := s.AddVoiceSample(ctx, pid, big[:store.MaxVoiceSampleBytes], "audio/mpeg", 30*time.Second); err != nil {
		t.Fatalf("10 MB sample: %v", err)
	}
	// Fill to 25 concurrently: the trigger serialises the count.
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AddVoiceSample(ctx, pid, []byte(fmt.Sprintf("sample %d", i)), "audio/wav", time.Second)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	var ok, refused int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrTooManySamples):
			refused++
			if !strings.Contains(err.Error(), "at most 25") {
				t.Errorf("unclear error: %v", err)
			}
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if ok != 24 || refused != 6 {
		t.Fatalf("accepted %d, refused %d; want 24 and 6", ok, refused)
	}
	list, err := s.VoiceSamples(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 25 || list[0].Size != store.MaxVoiceSampleBytes {
		t.Fatalf("%d samples, first %d bytes", len(list), list[0].Size)
	}
	// Deleting one makes room for one.
	if ok, err := s.DeleteVoiceSample(ctx, pid, list[3].ID); err != nil || !ok {
		t.Fatal(err)
	}
	if _, err := s.AddVoiceSample(ctx, pid, []byte("again"), "audio/wav", 0); err != nil {
		t.Fatalf("after delete: %v", err)
	}
	data, mime, err := s.VoiceSampleData(ctx, pid, list[1].ID)
	if err != nil || mime != "audio/wav" || !bytes.HasPrefix(data, []byte("sample ")) {
		t.Fatalf("sample data: %q %q %v", data, mime, err)
	}
}

func TestUsageIsIdempotentAndSummarised(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pid := createPersonality(t, s, "meter")
	alice, _ := s.UserByDiscordID(ctx, snowflake())
	bob, _ := s.UserByDiscordID(ctx, snowflake())
	since := time.Now().Add(-time.Hour)

	rows := []store.Usage{
		{RequestID: "r1", UserID: alice.ID, PersonalityID: pid, Provider: "openrouter", Model: "m", Kind: store.KindText, InputTokens: 100, OutputTokens: 20, Latency: 900 * time.Millisecond},
		{RequestID: "r2", UserID: alice.ID, PersonalityID: pid, Provider: "openrouter", Model: "m", Kind: store.KindText, InputTokens: 50, OutputTokens: 5},
		{RequestID: "r3", UserID: alice.ID, PersonalityID: pid, Provider: "elevenlabs", Model: "eleven_flash_v2_5", Kind: store.KindVoice, Characters: 300},
		{RequestID: "r4", UserID: bob.ID, PersonalityID: pid, Provider: "openrouter", Model: "m", Kind: store.KindText, InputTokens: 7, OutputTokens: 3},
	}
	for _, u := range rows {
		if ok, err := s.InsertUsage(ctx, u); err != nil || !ok {
			t.Fatalf("insert %s: %v %v", u.RequestID, ok, err)
		}
	}
	// A retried job writes nothing more.
	if ok, err := s.InsertUsage(ctx, rows[0]); err != nil || ok {
		t.Fatalf("retry inserted again: %v %v", ok, err)
	}
	if _, err := s.InsertUsage(ctx, store.Usage{RequestID: "bad", Provider: "x", Kind: "smell"}); !errors.Is(err, store.ErrInvalidInput) || !strings.Contains(err.Error(), "text, voice, image or embed") {
		t.Fatalf("bad kind: %v", err)
	}
	mine, err := s.UsageForUser(ctx, alice.ID, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 2 || mine[0].Provider != "elevenlabs" || mine[0].Characters != 300 ||
		mine[1].Requests != 2 || mine[1].InputTokens != 150 || mine[1].OutputTokens != 25 {
		t.Fatalf("alice's usage = %+v", mine)
	}
	all, err := s.UsageGlobal(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[1].Requests != 3 || all[1].Users != 2 || all[1].InputTokens != 157 {
		t.Fatalf("global usage = %+v", all)
	}
	if later, _ := s.UsageGlobal(ctx, time.Now().Add(time.Hour)); len(later) != 0 {
		t.Fatalf("usage from the future: %+v", later)
	}
	// Deleting the personality keeps the numbers.
	if _, err := s.DeletePersonality(ctx, pid); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.UsageGlobal(ctx, since); len(all) != 2 || all[1].Requests != 3 {
		t.Fatalf("usage lost with the personality: %+v", all)
	}
}

func TestRateLimitIsAtomicAcrossCallers(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	// Two stores on two pools stand for two processes.
	a, b := store.New(pool, nil, nil), store.New(pgtest.Pool(t, pool.Config().ConnString()), nil, nil)
	const limit = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed, denied := 0, 0
	var retry time.Duration
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, after, err := s.TakeRateLimit(ctx, time.Now(), "user-rpm", "42", time.Hour, limit, 1)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				allowed++
			} else {
				denied++
				retry = after
			}
		}()
	}
	wg.Wait()
	if allowed != limit || denied != 30 {
		t.Fatalf("allowed %d, denied %d; want %d and 30", allowed, denied, limit)
	}
	if retry <= 0 || retry > time.Hour {
		t.Fatalf("retry after %v, want within the hour window", retry)
	}
	// Another key has its own budget; a cost larger than the limit never passes.
	if ok, _, _ := a.TakeRateLimit(ctx, time.Now(), "user-rpm", "43", time.Hour, limit, 1); !ok {
		t.Fatal("other key refused")
	}
	if ok, _, _ := a.TakeRateLimit(ctx, time.Now(), "user-tpd", "43", 24*time.Hour, 1000, 1001); ok {
		t.Fatal("cost above the limit allowed")
	}
	if ok, _, _ := a.TakeRateLimit(ctx, time.Now(), "user-tpd", "43", 24*time.Hour, 1000, 600); !ok {
		t.Fatal("first 600 tokens refused")
	}
	if err := a.ChargeRateLimit(ctx, time.Now(), "user-tpd", "43", 24*time.Hour, 300); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := a.TakeRateLimit(ctx, time.Now(), "user-tpd", "43", 24*time.Hour, 1000, 101); ok {
		t.Fatal("charge not counted: 600+300+101 > 1000 allowed")
	}
	if ok, _, _ := a.TakeRateLimit(ctx, time.Now(), "user-tpd", "43", 24*time.Hour, 1000, 100); !ok {
		t.Fatal("exactly the limit refused")
	}
	// An expired window resets: simulate by moving the stored window back.
	if _, err := pool.Exec(ctx, `UPDATE rate_limit_counters SET window_start = window_start - interval '2 hours' WHERE key = '42'`); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := a.TakeRateLimit(ctx, time.Now(), "user-rpm", "42", time.Hour, limit, limit); !ok || err != nil {
		t.Fatalf("new window refused: %v", err)
	}
	if _, _, err := a.TakeRateLimit(ctx, time.Now(), "x", "y", 0, 1, 1); !errors.Is(err, store.ErrInvalidInput) {
		t.Fatalf("zero window: %v", err)
	}
}

func TestDiscordMappings(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pid := createPersonality(t, s, "mapped")
	other := createPersonality(t, s, "other")
	u, _ := s.UserByDiscordID(ctx, snowflake())
	const channel, msg = "111111111111111111", "222222222222222222"

	if err := s.RecordWebhookMessage(ctx, store.WebhookMessage{MessageID: msg, PersonalityID: pid, ChannelID: channel, UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordWebhookMessage(ctx, store.WebhookMessage{MessageID: msg, PersonalityID: pid, ChannelID: channel, UserID: u.ID}); err != nil {
		t.Fatalf("recording twice: %v", err)
	}
	if got, ok, err := s.PersonalityForMessage(ctx, msg); err != nil || !ok || got != pid {
		t.Fatalf("PersonalityForMessage = %d %v %v", got, ok, err)
	}
	if _, ok, err := s.PersonalityForMessage(ctx, "333"); ok || err != nil {
		t.Fatalf("unknown message: %v %v", ok, err)
	}

	if _, ok, _ := s.ActivatedPersonality(ctx, channel); ok {
		t.Fatal("channel active before activation")
	}
	if err := s.ActivateChannel(ctx, channel, pid, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateChannel(ctx, channel, other, u.ID); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := s.ActivatedPersonality(ctx, channel); !ok || got != other {
		t.Fatalf("activation = %d %v", got, ok)
	}
	if err := s.ActivateChannel(ctx, "not a channel", pid, 0); !errors.Is(err, store.ErrInvalidInput) {
		t.Fatalf("bad channel id: %v", err)
	}

	if err := s.SetDMSession(ctx, u.ID, pid); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := s.DMSession(ctx, u.ID); !ok || got != pid {
		t.Fatalf("dm session = %d %v", got, ok)
	}

	w := store.Webhook{ID: "444444444444444444", Token: "super-secret-webhook-token"}
	if err := s.PutChannelWebhook(ctx, channel, w); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.ChannelWebhook(ctx, channel); err != nil || !ok || got != w {
		t.Fatalf("webhook = %+v %v %v", got, ok, err)
	}
	if s := fmt.Sprintf("%v %+v", w, w); strings.Contains(s, w.Token) {
		t.Fatalf("webhook token printed: %s", s)
	}
	if err := s.DeleteChannelWebhook(ctx, channel); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ChannelWebhook(ctx, channel); ok {
		t.Fatal("deleted webhook still there")
	}

	// Deleting the personality removes what pointed at it.
	if _, err := s.DeletePersonality(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ActivatedPersonality(ctx, channel); ok {
		t.Fatal("activation of a deleted personality survived")
	}
}

func TestReasoningIsReadableOnlyByTheAsker(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pid := createPersonality(t, s, "thinker")
	alice, _ := s.UserByDiscordID(ctx, snowflake())
	bob, _ := s.UserByDiscordID(ctx, snowflake())
	if err := s.SaveReasoning(ctx, store.Reasoning{RequestID: "req-1", UserID: alice.ID, PersonalityID: pid, Text: "first I considered..."}); err != nil {
		t.Fatal(err)
	}
	// The message id arrives once the reply is posted.
	if err := s.SaveReasoning(ctx, store.Reasoning{RequestID: "req-1", UserID: alice.ID, PersonalityID: pid, MessageID: "555555555555555555", Text: "first I considered..."}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := s.ReasoningForMessage(ctx, "555555555555555555", alice.DiscordID)
	if err != nil || !ok || r.Text != "first I considered..." || r.RequestID != "req-1" || r.PersonalityID != pid {
		t.Fatalf("alice: %+v %v %v", r, ok, err)
	}
	if _, ok, _ := s.ReasoningForMessage(ctx, "555555555555555555", bob.DiscordID); ok {
		t.Fatal("bob can read alice's reasoning")
	}
	if r, ok, _ := s.ReasoningForRequest(ctx, "req-1", alice.DiscordID); !ok || r.Text == "" {
		t.Fatal("by request id")
	}
	// Deleting alice deletes her reasoning.
	if ok, err := s.DeleteUser(ctx, alice.DiscordID); err != nil || !ok {
		t.Fatal(err)
	}
	if _, ok, _ := s.ReasoningForRequest(ctx, "req-1", alice.DiscordID); ok {
		t.Fatal("reasoning survived the user's deletion")
	}
}

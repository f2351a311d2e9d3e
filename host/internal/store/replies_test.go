package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

func TestRecordRepliesWritesOnceAndChargesOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pid := createPersonality(t, s, "batched")
	gone := createPersonality(t, s, "gone")
	u, err := s.UserByDiscordID(ctx, snowflake())
	if err != nil {
		t.Fatal(err)
	}
	msgA, msgB := snowflake(), snowflake()
	recs := []store.ReplyRecord{
		{
			Usage:     []store.Usage{{RequestID: "req-a", UserID: u.ID, PersonalityID: pid, Provider: "openrouter", Model: "m", Kind: store.KindText, InputTokens: 100, OutputTokens: 20, Latency: 30 * time.Millisecond}},
			Messages:  []store.WebhookMessage{{MessageID: msgA, PersonalityID: pid, ChannelID: snowflake(), UserID: u.ID}},
			Reasoning: &store.Reasoning{RequestID: "req-a", UserID: u.ID, PersonalityID: pid, MessageID: msgA, Text: "thought a"},
			Charges:   []store.RateCharge{{RequestID: "req-a", Scope: "user-tpd", Key: u.DiscordID, Window: 24 * time.Hour, Cost: 119}},
			DMSession: &store.DMSessionUpdate{UserID: u.ID, PersonalityID: pid},
		},
		{
			// Its personality is deleted before the batch is written: the usage
			// row keeps its numbers without the link, the mapping is skipped.
			Usage:    []store.Usage{{RequestID: "req-b", UserID: u.ID, PersonalityID: gone, Provider: "openrouter", Model: "m", InputTokens: 5, OutputTokens: 5}},
			Messages: []store.WebhookMessage{{MessageID: msgB, PersonalityID: gone, ChannelID: snowflake(), UserID: u.ID}},
			Charges:  []store.RateCharge{{RequestID: "req-b", Scope: "user-tpd", Key: u.DiscordID, Window: 24 * time.Hour, Cost: 9}},
		},
	}
	if _, err := s.DeletePersonality(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordReplies(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// Writing the same batch again (as after a lost COMMIT reply) changes nothing.
	if err := s.RecordReplies(ctx, recs); err != nil {
		t.Fatal(err)
	}

	var rows, tokens int64
	if err := s.Pool().QueryRow(ctx, `SELECT count(*), sum(input_tokens + output_tokens) FROM usage_logs`).Scan(&rows, &tokens); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || tokens != 130 {
		t.Fatalf("usage rows %d tokens %d, want 2 and 130", rows, tokens)
	}
	var orphanPersonality *int64
	if err := s.Pool().QueryRow(ctx, `SELECT personality_id FROM usage_logs WHERE request_id = 'req-b'`).Scan(&orphanPersonality); err != nil || orphanPersonality != nil {
		t.Fatalf("usage of a deleted personality: %v %v", orphanPersonality, err)
	}
	// Charged once: 119 + 9, not twice that.
	ok, _, err := s.TakeRateLimit(ctx, time.Now(), "user-tpd", u.DiscordID, 24*time.Hour, 128, 0)
	if err != nil || !ok {
		t.Fatalf("128 used of 128 should still admit cost 0: %v %v", ok, err)
	}
	ok, _, err = s.TakeRateLimit(ctx, time.Now(), "user-tpd", u.DiscordID, 24*time.Hour, 128, 1)
	if err != nil || ok {
		t.Fatalf("the 129th token should be refused (charged twice or not at all?): %v %v", ok, err)
	}

	if got, found, err := s.PersonalityForMessage(ctx, msgA); err != nil || !found || got != pid {
		t.Fatalf("mapping: %v %v %v", got, found, err)
	}
	if _, found, err := s.PersonalityForMessage(ctx, msgB); err != nil || found {
		t.Fatalf("mapping of a deleted personality was written: %v %v", found, err)
	}
	if r, found, err := s.ReasoningForMessage(ctx, msgA, u.DiscordID); err != nil || !found || r.Text != "thought a" {
		t.Fatalf("reasoning: %+v %v %v", r, found, err)
	}
	if got, found, err := s.DMSession(ctx, u.ID); err != nil || !found || got != pid {
		t.Fatalf("dm session: %v %v %v", got, found, err)
	}
}

func TestRecordRepliesRefusesABadRowAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pid := createPersonality(t, s, "strict")
	recs := []store.ReplyRecord{
		{Usage: []store.Usage{{RequestID: "good", PersonalityID: pid, Provider: "p"}}},
		{Messages: []store.WebhookMessage{{MessageID: "not-a-snowflake", PersonalityID: pid, ChannelID: snowflake()}}},
	}
	err := s.RecordReplies(ctx, recs)
	if !errors.Is(err, store.ErrInvalidInput) {
		t.Fatalf("err = %v, want invalid input", err)
	}
	var rows int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM usage_logs`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("a failed batch left %d usage rows (%v)", rows, err)
	}
	if err := s.RecordReplies(ctx, []store.ReplyRecord{{Usage: []store.Usage{{Provider: "p"}}}}); !errors.Is(err, store.ErrInvalidInput) {
		t.Fatalf("usage without request id: %v", err)
	}
}

// A reply posted as several messages: its reasoning is found from any part,
// with who asked; a reply without reasoning (in the same batch, same channel)
// finds none.
func TestReasoningForReplyMessageFindsAnyPart(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pid := createPersonality(t, s, "multipart")
	u, err := s.UserByDiscordID(ctx, snowflake())
	if err != nil {
		t.Fatal(err)
	}
	channel := snowflake()
	p1, p2, p3, plain := snowflake(), snowflake(), snowflake(), snowflake()
	recs := []store.ReplyRecord{
		{
			Messages: []store.WebhookMessage{
				{MessageID: p1, PersonalityID: pid, ChannelID: channel, UserID: u.ID},
				{MessageID: p2, PersonalityID: pid, ChannelID: channel, UserID: u.ID},
				{MessageID: p3, PersonalityID: pid, ChannelID: channel, UserID: u.ID},
			},
			Reasoning: &store.Reasoning{RequestID: "req-multi", UserID: u.ID, PersonalityID: pid, MessageID: p1, Text: "long thought"},
		},
		{Messages: []store.WebhookMessage{{MessageID: plain, PersonalityID: pid, ChannelID: channel, UserID: u.ID}}},
	}
	if err := s.RecordReplies(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{p1, p2, p3} {
		r, ok, err := s.ReasoningForReplyMessage(ctx, id)
		if err != nil || !ok || r.Text != "long thought" || r.AskerDiscordID != u.DiscordID || r.RequestID != "req-multi" {
			t.Errorf("message %s: %+v %v %v", id, r, ok, err)
		}
	}
	for _, id := range []string{plain, snowflake()} {
		if r, ok, err := s.ReasoningForReplyMessage(ctx, id); err != nil || ok {
			t.Errorf("message %s without reasoning found %+v (%v)", id, r, err)
		}
	}
	// A reply recorded before webhook messages carried their request id is
	// still found from its first part.
	old := snowflake()
	if err := s.RecordReplies(ctx, []store.ReplyRecord{{Reasoning: &store.Reasoning{RequestID: "req-old", UserID: u.ID, PersonalityID: pid, MessageID: old, Text: "old thought"}}}); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := s.ReasoningForReplyMessage(ctx, old); err != nil || !ok || r.Text != "old thought" {
		t.Errorf("first part of an old reply: %+v %v %v", r, ok, err)
	}
}

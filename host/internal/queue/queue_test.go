package queue_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/pgtest"
	"github.com/tzurot-go/tzurot/host/internal/queue"
	"github.com/tzurot-go/tzurot/host/internal/trigger"
)

// answers records what the workers did, in the order they did it. The chat pipeline itself is
// tested in host/internal/chat and end to end in host/internal/app (real plugins, fake Discord);
// here the answerer only records, to check the queue's own promises.
type answers struct {
	mu       sync.Mutex
	answered []string // message ids
	failed   []string
	panicOn  map[string]bool
	inFlight map[string]int // per channel, to catch two answers of one channel at once
	overlap  bool
}

func (a *answers) Answer(ctx context.Context, plan chat.Plan, ledger chat.Ledger) {
	a.mu.Lock()
	if a.panicOn[plan.Message.ID] {
		a.mu.Unlock()
		panic("poisoned message")
	}
	a.inFlight[plan.Message.ChannelID]++
	if a.inFlight[plan.Message.ChannelID] > 1 {
		a.overlap = true
	}
	a.mu.Unlock()
	// Claim as the pipeline does before posting; a second claim must be refused.
	req := chat.RequestID(plan.Message.ID, plan.Triggers[0].PersonalityID)
	ok, err := ledger.Claim(ctx, req, plan.Message.ChannelID)
	if err != nil || !ok {
		panic(fmt.Sprintf("first claim of %s refused: %v", req, err))
	}
	if again, err := ledger.Claim(ctx, req, plan.Message.ChannelID); err != nil || again {
		panic(fmt.Sprintf("second claim of %s accepted: %v", req, err))
	}
	time.Sleep(20 * time.Millisecond)
	_ = ledger.Finish(ctx, req, []string{"posted-" + plan.Message.ID})
	a.mu.Lock()
	a.inFlight[plan.Message.ChannelID]--
	a.answered = append(a.answered, plan.Message.ID)
	a.mu.Unlock()
}

func (a *answers) FailPlan(_ context.Context, plan chat.Plan, _ error, _ chat.Ledger) {
	a.mu.Lock()
	a.failed = append(a.failed, plan.Message.ID)
	a.mu.Unlock()
}

func (a *answers) snapshot() (answered, failed []string, overlap bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.answered...), append([]string(nil), a.failed...), a.overlap
}

func plan(id int64, channel string) chat.Plan {
	return chat.Plan{
		Message:  chat.Message{ID: strconv.FormatInt(id, 10), ChannelID: channel, GuildID: "g", Author: chat.Author{ID: "u"}, Content: "hi"},
		Triggers: []trigger.Trigger{{PersonalityID: 7, Reason: trigger.ReasonMention}},
		Content:  "hi",
	}
}

func startWorkers(t *testing.T, pool *pgxpool.Pool, a *answers, n int, cfg queue.Config) {
	t.Helper()
	for i := 0; i < n; i++ {
		w, err := queue.NewWorker(pool, a, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = w.Stop(ctx)
		})
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never became true")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChannelOrderHoldsAcrossWorkers: two worker clients, three channels, messages answered one
// at a time per channel and in the order they arrived; a message queued twice is answered once.
func TestChannelOrderHoldsAcrossWorkers(t *testing.T) {
	pool := pgtest.New(t)
	gw, err := queue.NewGateway(pool, queue.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	channels := []string{"c1", "c2", "c3"}
	var want = map[string][]string{}
	id := int64(1000)
	for i := 0; i < 6; i++ {
		for _, ch := range channels {
			id++
			p := plan(id, ch)
			if err := gw.Dispatch(ctx, p); err != nil {
				t.Fatal(err)
			}
			want[ch] = append(want[ch], p.Message.ID)
		}
	}
	// A replayed event: recorded already, not queued again.
	if err := gw.Dispatch(ctx, plan(1001, "c1")); err != nil {
		t.Fatal(err)
	}
	var jobs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&jobs); err != nil || jobs != 18 {
		t.Fatalf("%d jobs (%v), want 18: one per message", jobs, err)
	}

	a := &answers{inFlight: map[string]int{}}
	startWorkers(t, pool, a, 2, queue.Config{Workers: 8, OrderSnooze: 20 * time.Millisecond})
	waitUntil(t, func() bool { got, _, _ := a.snapshot(); return len(got) == 18 })
	got, _, overlap := a.snapshot()
	if overlap {
		t.Error("two messages of one channel were answered at the same time")
	}
	per := map[string][]string{}
	for _, m := range got {
		var ch string
		if err := pool.QueryRow(ctx, `SELECT channel_id FROM incoming_messages WHERE message_id = $1`, m).Scan(&ch); err != nil {
			t.Fatal(err)
		}
		per[ch] = append(per[ch], m)
	}
	for _, ch := range channels {
		if fmt.Sprint(per[ch]) != fmt.Sprint(want[ch]) {
			t.Errorf("channel %s answered %v, want %v", ch, per[ch], want[ch])
		}
	}
}

// TestPoisonedJobGivesUpAndTheChannelGoesOn: a job that always fails is tried a bounded number of
// times, then answered with the error (FailPlan) once, and the channel's next message is answered.
func TestPoisonedJobGivesUpAndTheChannelGoesOn(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	gw, err := queue.NewGateway(pool, queue.Config{MaxAttempts: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{2001, 2002} {
		if err := gw.Dispatch(ctx, plan(id, "c")); err != nil {
			t.Fatal(err)
		}
	}
	a := &answers{inFlight: map[string]int{}, panicOn: map[string]bool{"2001": true}}
	startWorkers(t, pool, a, 1, queue.Config{MaxAttempts: 3, RetryBase: 50 * time.Millisecond, OrderSnooze: 20 * time.Millisecond})
	waitUntil(t, func() bool { got, _, _ := a.snapshot(); return len(got) == 1 })
	got, failed, _ := a.snapshot()
	if fmt.Sprint(got) != "[2002]" || fmt.Sprint(failed) != "[2001]" {
		t.Fatalf("answered %v and gave up on %v; want [2002] answered after [2001] was given up", got, failed)
	}
	var attempts int
	var state string
	if err := pool.QueryRow(ctx, `SELECT attempt, state FROM river_job WHERE args->'plan'->'message'->>'id' = '2001'`).Scan(&attempts, &state); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || state != "discarded" {
		t.Fatalf("poisoned job: %d attempts, state %s; want 3 attempts, discarded", attempts, state)
	}
}

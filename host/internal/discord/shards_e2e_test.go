//go:build !race

// Websocket end-to-end (see gateway_e2e_test.go for why these are left out of -race runs).

package discord

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/discordfake"
)

// TestGatewayShardsIdentifyOnlyTheirOwn: a bot given shards 2 and 3 of 4 opens one session per
// shard, each identifying as its shard of 4, and says it is ready once both are.
func TestGatewayShardsIdentifyOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	fake := discordfake.New(t)
	tb := newTestBotWith(t, fake, newRecorder(), WithShards([]int{2, 3}, 4))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tb.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := waitFor(ctx, "both shards ready", tb.GatewayReady); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range fake.Identifies() {
		got = append(got, fmt.Sprintf("%d/%d", id.Shard[0], id.Shard[1]))
	}
	sort.Strings(got)
	if strings.Join(got, " ") != "2/4 3/4" {
		t.Fatalf("identified as shards %v, want 2/4 and 3/4", got)
	}
}

func TestShardsOutsideTheCountAreRefused(t *testing.T) {
	fake := discordfake.New(t)
	_, err := New(fake.Token, newRecorder(), WithRESTURL(fake.RESTURL()), WithShards([]int{4}, 4))
	if err == nil || !strings.Contains(err.Error(), "shard 4 is not one of the 4 shards") {
		t.Fatalf("err %v, want shard 4 of 4 refused", err)
	}
}

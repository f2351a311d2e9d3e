package store_test

import (
	"context"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// userMemories100k gives one user 90,000 memories of one personality (and
// another user 10,000): 12 words each from a vocabulary of 2,000, over three
// years, in one INSERT ... SELECT generate_series.
func userMemories100k(b *testing.B) (*store.Store, int64, int64) {
	b.Helper()
	ctx := context.Background()
	s := newStore(b)
	p := createPersonality(b, s, "bench")
	u, err := s.UserByDiscordID(ctx, snowflake())
	if err != nil {
		b.Fatal(err)
	}
	other, err := s.UserByDiscordID(ctx, snowflake())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `
INSERT INTO personality_memories (personality_id, source_system, content, about_user_ids, present_user_ids, is_dm,
    discord_channel_id, discord_guild_id, formed_by, remembered_at)
SELECT $1, 'tzurot',
       (SELECT string_agg('w' || ((abs(hashint8(g * 13 + k)) % 2000)::text), ' ') FROM generate_series(1, 12) k) || ' memory ' || g,
       CASE WHEN g % 10 = 0 THEN ARRAY[$3::bigint] ELSE ARRAY[$2::bigint] END,
       ARRAY[$2::bigint, $3::bigint], false, '600000000000000001', '500000000000000001',
       'summary', now() - make_interval(mins => g * 15)
FROM generate_series(1, 100000) g`, p, u.ID, other.ID); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `ANALYZE personality_memories`); err != nil {
		b.Fatal(err)
	}
	return s, p, u.ID
}

// BenchmarkMemoryList100k is /memory list: a page (the 50th) of a user's
// 90,000 memories, with the total.
func BenchmarkMemoryList100k(b *testing.B) {
	s, _, uid := userMemories100k(b)
	ctx := context.Background()
	timed(b, func(int) error {
		list, total, err := s.MemoriesAbout(ctx, uid, 0, 10, 490)
		if err == nil && (total != store.MaxMemoryCount+1 || len(list) != 10) {
			b.Fatalf("total %d, %d rows", total, len(list))
		}
		return err
	})
}

// BenchmarkMemorySearch100k is /memory search among a user's 90,000
// memories: "words" two words that match (full text), "fallback" text no
// word matches, so every memory is read for the substring.
func BenchmarkMemorySearch100k(b *testing.B) {
	s, _, uid := userMemories100k(b)
	ctx := context.Background()
	b.Run("words", func(b *testing.B) {
		timed(b, func(int) error {
			list, err := s.SearchMemoriesAbout(ctx, uid, 0, "w17 & w42", 10)
			if err == nil && len(list) == 0 {
				b.Fatal("nothing found")
			}
			return err
		})
	})
	b.Run("fallback", func(b *testing.B) {
		timed(b, func(int) error {
			_, err := s.SearchMemoriesAbout(ctx, uid, 0, "zeppelin", 10)
			return err
		})
	})
}

// BenchmarkDeleteUserData100k is /privacy delete-my-data for a user with
// 90,000 memories (and present in 10,000 more): one transaction. Each
// iteration fills the table again outside the timer.
func BenchmarkDeleteUserData100k(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, _, uid := userMemories100k(b)
		var discordID string
		if err := s.Pool().QueryRow(ctx, `SELECT discord_id FROM users WHERE id = $1`, uid).Scan(&discordID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		d, err := s.DeleteUserData(ctx, discordID)
		if err != nil || d.Memories != 90000 || d.PresentIn != 10000 {
			b.Fatalf("%+v, %v", d, err)
		}
	}
}

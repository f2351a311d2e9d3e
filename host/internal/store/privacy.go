package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
)

// UserData counts what a user's "delete my data" removes (before: what it
// would remove, for the confirmation; after: what it removed).
type UserData struct {
	// Known is false when the bot has no record of the user at all.
	Known bool
	// Keys are the user's provider API keys.
	Keys int64
	// Memories are memories about the user (deleted whole, shared ones too:
	// their text is about the user).
	Memories int64
	// PresentIn are other people's memories of conversations the user was
	// in: only the user's id is taken out of them.
	PresentIn int64
	// Personas are the user's /persona texts; Personalizations the per-user
	// backstories an import brought.
	Personas, Personalizations int64
	// ModelOverrides are the user's own model settings for personalities.
	ModelOverrides int64
	// Reasoning is stored reasoning of replies to the user.
	Reasoning int64
	// PersonalitySettings are the user's per-personality settings (memory
	// formation switched off for one personality).
	PersonalitySettings int64
	// Preferences is 1 when the user has set any preference (voice,
	// reasoning, memory formation); DMSession 1 when a DM conversation is
	// remembered.
	Preferences, DMSession int64
	// RateLimitCounters are the user's rate-limit windows.
	RateLimitCounters int64
	// UsageRows are usage records: kept for the deployment's totals, with
	// the user's id removed.
	UsageRows int64
	// Activations are channel activations the user made: kept (the
	// channel's members rely on them), with the user's id removed.
	Activations int64
	// RepliesAsked are the personalities' messages that answered the user:
	// kept (they are in Discord), with the user's id removed.
	RepliesAsked int64
	// OwnedPersonalities stay, without an owner (the bot's owners manage
	// them); the user can delete them first with /personality delete.
	OwnedPersonalities int64
	// Jobs are River reply jobs whose arguments hold the user's Discord id
	// (their messages, or messages mentioning them): waiting ones (their
	// reply is dropped) and finished ones River keeps for a while. A job
	// running at that moment is left to finish; River prunes it later.
	Jobs int64
}

// userJobs selects the River jobs whose arguments name the Discord user
// ($1), except the ones a worker is running. A job's args are a message
// snapshot (queue.ReplyArgs): the author's id, mentions, the text. The id is
// matched as a whole JSON string, so another number containing it does not
// match.
const userJobs = `FROM river_job WHERE state <> 'running' AND args::text LIKE '%"' || $1::text || '"%'`

// riverJobs reports whether River's job table exists (schema.Migrate
// creates it; a database migrated by goose alone has none).
func riverJobs(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&ok)
	return ok, err
}

// userDataCounts reads every count of UserData for the user in one
// statement.
const userDataCounts = `
SELECT
  (SELECT count(*) FROM user_api_keys WHERE user_id = $1),
  (SELECT count(*) FROM personality_memories WHERE about_user_ids @> ARRAY[$1::bigint]),
  (SELECT count(*) FROM personality_memories WHERE present_user_ids @> ARRAY[$1::bigint] AND NOT about_user_ids @> ARRAY[$1::bigint]),
  (SELECT count(*) FROM user_personas WHERE user_id = $1),
  (SELECT count(*) FROM personality_user_personalizations WHERE user_id = $1),
  (SELECT count(*) FROM llm_configs WHERE user_id = $1),
  (SELECT count(*) FROM reply_reasoning WHERE user_id = $1),
  (SELECT count(*) FROM user_personality_settings WHERE user_id = $1),
  (SELECT count(*) FROM user_preferences WHERE user_id = $1),
  (SELECT count(*) FROM dm_sessions WHERE user_id = $1),
  (SELECT count(*) FROM rate_limit_counters WHERE scope LIKE 'user-%' AND key = $2),
  (SELECT count(*) FROM usage_logs WHERE user_id = $1),
  (SELECT count(*) FROM channel_activations WHERE activated_by = $1),
  (SELECT count(*) FROM webhook_messages WHERE user_id = $1),
  (SELECT count(*) FROM personalities WHERE owner_user_id = $1)`

func scanUserData(row pgx.Row) (UserData, error) {
	d := UserData{Known: true}
	err := row.Scan(&d.Keys, &d.Memories, &d.PresentIn, &d.Personas, &d.Personalizations, &d.ModelOverrides,
		&d.Reasoning, &d.PersonalitySettings, &d.Preferences, &d.DMSession, &d.RateLimitCounters, &d.UsageRows,
		&d.Activations, &d.RepliesAsked, &d.OwnedPersonalities)
	return d, err
}

// UserDataSummary counts what DeleteUserData would remove for the Discord
// user, without changing anything (the confirmation shows it).
func (s *Store) UserDataSummary(ctx context.Context, discordID string) (UserData, error) {
	if err := checkSnowflake("Discord user id", discordID); err != nil {
		return UserData{}, err
	}
	var uid int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM users WHERE discord_id = $1`, discordID).Scan(&uid)
	if errors.Is(err, pgx.ErrNoRows) {
		var d UserData
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM rate_limit_counters WHERE scope LIKE 'user-%' AND key = $1`, discordID).Scan(&d.RateLimitCounters)
		if err == nil {
			d.Jobs, err = countJobs(ctx, s.pool, discordID)
		}
		if err != nil {
			return UserData{}, fmt.Errorf("count user data: %w", mapError(err))
		}
		return d, nil
	}
	if err != nil {
		return UserData{}, fmt.Errorf("find user: %w", mapError(err))
	}
	d, err := scanUserData(s.pool.QueryRow(ctx, userDataCounts, uid, discordID))
	if err != nil {
		return UserData{}, fmt.Errorf("count user data: %w", mapError(err))
	}
	if d.Jobs, err = countJobs(ctx, s.pool, discordID); err != nil {
		return UserData{}, fmt.Errorf("count user data: %w", mapError(err))
	}
	return d, nil
}

func countJobs(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, discordID string) (int64, error) {
	ok, err := riverJobs(ctx, q)
	if err != nil || !ok {
		return 0, err
	}
	var n int64
	err = q.QueryRow(ctx, `SELECT count(*) `+userJobs, discordID).Scan(&n)
	return n, err
}

// DeleteUserData removes everything the bot keeps about a Discord user, in
// one transaction (all or nothing), and returns what it removed:
//
//   - memories about the user are deleted whole, shared ones included (their
//     text is about the user and cannot be cut out of it); the user's id is
//     removed from the present_user_ids of other memories (the conversation
//     stays the other people's memory, no longer linked to this user);
//   - usage records stay for the deployment's accounting, their user_id set
//     to NULL (anonymous); rate-limit windows keyed by the Discord id go,
//     and so do River reply jobs holding the user's messages (all but a job
//     running at that moment);
//   - the users row is deleted, and with it (foreign keys, ON DELETE
//     CASCADE) keys, preferences, personas, personalizations, per-user model
//     settings and personality settings, stored reasoning and the DM
//     session; links that others rely on lose the user (ON DELETE SET NULL):
//     channel activations they made, the messages that answered them, the
//     personalities they own (which stay, ownerless).
//
// docs/security.md ("Deleting your data") is the user-facing list, and
// TestDeleteUserDataLeavesNoTrace checks every table of the schema.
func (s *Store) DeleteUserData(ctx context.Context, discordID string) (UserData, error) {
	if err := checkSnowflake("Discord user id", discordID); err != nil {
		return UserData{}, err
	}
	var d UserData
	var uid int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Locking the user row makes a concurrent first contact (which
		// inserts with ON CONFLICT) wait, and two deletions take turns.
		err := tx.QueryRow(ctx, `SELECT id FROM users WHERE discord_id = $1 FOR UPDATE`, discordID).Scan(&uid)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			d = UserData{}
		case err != nil:
			return err
		default:
			if d, err = scanUserData(tx.QueryRow(ctx, userDataCounts, uid, discordID)); err != nil {
				return err
			}
		}
		// Keyed by the Discord id: these can exist without a users row.
		tag, err := tx.Exec(ctx, `DELETE FROM rate_limit_counters WHERE scope LIKE 'user-%' AND key = $1`, discordID)
		if err != nil {
			return err
		}
		d.RateLimitCounters = tag.RowsAffected()
		if ok, err := riverJobs(ctx, tx); err != nil {
			return err
		} else if ok {
			tag, err := tx.Exec(ctx, `DELETE `+userJobs, discordID)
			if err != nil {
				return err
			}
			d.Jobs = tag.RowsAffected()
		}
		if !d.Known {
			return nil
		}
		for _, stmt := range []string{
			`DELETE FROM personality_memories WHERE about_user_ids @> ARRAY[$1::bigint]`,
			`UPDATE personality_memories SET present_user_ids = array_remove(present_user_ids, $1::bigint)
			 WHERE present_user_ids @> ARRAY[$1::bigint]`,
			`UPDATE usage_logs SET user_id = NULL WHERE user_id = $1`,
			`DELETE FROM users WHERE id = $1`,
		} {
			if _, err := tx.Exec(ctx, stmt, uid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return UserData{}, fmt.Errorf("delete user data: %w", mapError(err))
	}
	if uid != 0 {
		// The notifications do the same in every other process.
		s.changed(cache.KindUser, uid)
		s.changed(cache.KindKeys, uid)
	}
	return d, nil
}

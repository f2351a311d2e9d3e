package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/cache"
	"github.com/tzurot-go/tzurot/host/internal/store/query"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// RotationReport counts what a rotation did.
type RotationReport struct {
	// Rotated values were re-sealed with the current key by this run.
	Rotated int
	// AlreadyCurrent values needed nothing (sealed with the current key
	// before this run started, e.g. by a previous, interrupted run).
	AlreadyCurrent int
	// Failed values could not be opened (unknown key, altered data); they are
	// left untouched and listed in the log by row, never by content.
	Failed int
}

// DefaultRotationBatch is how many rows one rotation transaction handles.
const DefaultRotationBatch = 100

// RotateKeys re-seals every stored secret (API keys and webhook tokens) with
// the vault's current key, batch by batch. Each batch is one short
// transaction holding FOR UPDATE SKIP LOCKED row locks, so the bot keeps
// serving (readers open either key version meanwhile), two rotations can run
// at once, and an interrupted run is resumed simply by running it again.
func (s *Store) RotateKeys(ctx context.Context, batch int, logger *slog.Logger) (RotationReport, error) {
	if s.vault == nil {
		return RotationReport{}, ErrNoVault
	}
	// Re-sealed keys notify every process; this one drops its own at once.
	defer s.changedAll(cache.KindKeys)
	if batch <= 0 {
		batch = DefaultRotationBatch
	}
	if logger == nil {
		logger = s.logger
	}
	var rep RotationReport
	cur := s.vault.CurrentVersion()

	for _, count := range []func(context.Context, query.DBTX) ([]query.CountAPIKeysByVersionRow, error){
		s.q.CountAPIKeysByVersion,
		func(ctx context.Context, db query.DBTX) ([]query.CountAPIKeysByVersionRow, error) {
			rows, err := s.q.CountWebhookTokensByVersion(ctx, db)
			out := make([]query.CountAPIKeysByVersionRow, len(rows))
			for i, r := range rows {
				out[i] = query.CountAPIKeysByVersionRow(r)
			}
			return out, err
		},
	} {
		rows, err := count(ctx, s.pool)
		if err != nil {
			return rep, fmt.Errorf("count sealed values: %w", err)
		}
		for _, r := range rows {
			if r.KeyVersion == cur {
				rep.AlreadyCurrent += int(r.N)
			}
		}
	}

	if err := s.rotateAPIKeys(ctx, batch, logger, &rep); err != nil {
		return rep, err
	}
	if err := s.rotateWebhookTokens(ctx, batch, logger, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

func (s *Store) rotateAPIKeys(ctx context.Context, batch int, logger *slog.Logger, rep *RotationReport) error {
	failed := []int64{}
	for {
		n := 0
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := s.q.StaleAPIKeysForUpdate(ctx, tx, query.StaleAPIKeysForUpdateParams{
				CurrentVersion: s.vault.CurrentVersion(), SkipIds: failed, BatchSize: int32(batch),
			})
			if err != nil {
				return err
			}
			n = len(rows)
			for _, r := range rows {
				re, err := s.vault.Reseal(vault.Sealed{Nonce: r.Nonce, Ciphertext: r.Ciphertext, KeyVersion: r.KeyVersion},
					apiKeyAAD(r.UserID, r.Provider))
				if err != nil {
					failed = append(failed, r.ID)
					rep.Failed++
					logger.Error("cannot re-seal an API key; left as it was",
						"table", apiKeysTable, "row_id", r.ID, "provider", r.Provider, "key_version", fmt.Sprintf("%08x", uint32(r.KeyVersion)), "error", err)
					continue
				}
				if err := s.q.ResealAPIKey(ctx, tx, query.ResealAPIKeyParams{
					ID: r.ID, Nonce: re.Nonce, Ciphertext: re.Ciphertext, KeyVersion: re.KeyVersion,
				}); err != nil {
					return err
				}
				rep.Rotated++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rotate api keys: %w", err)
		}
		if n > 0 {
			logger.Info("rotation batch done", "table", apiKeysTable, "rows", n, "rotated_so_far", rep.Rotated)
		}
		if n < batch {
			return nil
		}
	}
}

func (s *Store) rotateWebhookTokens(ctx context.Context, batch int, logger *slog.Logger, rep *RotationReport) error {
	failed := []string{}
	for {
		n := 0
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := s.q.StaleWebhookTokensForUpdate(ctx, tx, query.StaleWebhookTokensForUpdateParams{
				CurrentVersion: s.vault.CurrentVersion(), SkipIds: failed, BatchSize: int32(batch),
			})
			if err != nil {
				return err
			}
			n = len(rows)
			for _, r := range rows {
				re, err := s.vault.Reseal(vault.Sealed{Nonce: r.TokenNonce, Ciphertext: r.TokenCiphertext, KeyVersion: r.TokenKeyVersion},
					webhookAAD(r.ChannelID))
				if err != nil {
					failed = append(failed, r.ChannelID)
					rep.Failed++
					logger.Error("cannot re-seal a webhook token; left as it was",
						"table", webhooksTable, "channel_id", r.ChannelID, "key_version", fmt.Sprintf("%08x", uint32(r.TokenKeyVersion)), "error", err)
					continue
				}
				if err := s.q.ResealWebhookToken(ctx, tx, query.ResealWebhookTokenParams{
					ChannelID: r.ChannelID, TokenNonce: re.Nonce, TokenCiphertext: re.Ciphertext, TokenKeyVersion: re.KeyVersion,
				}); err != nil {
					return err
				}
				rep.Rotated++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rotate webhook tokens: %w", err)
		}
		if n > 0 {
			logger.Info("rotation batch done", "table", webhooksTable, "rows", n, "rotated_so_far", rep.Rotated)
		}
		if n < batch {
			return nil
		}
	}
}

// ErrRotationIncomplete is returned by callers (the CLI) when some values
// could not be re-sealed.
var ErrRotationIncomplete = errors.New("some secrets could not be re-sealed")

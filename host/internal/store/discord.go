package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/tzurot-go/tzurot/host/internal/store/query"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// WebhookMessage maps a message a personality posted to who posted it, so a
// reply to it triggers the same personality.
type WebhookMessage struct {
	MessageID     string
	PersonalityID int64
	ChannelID     string
	// UserID is the internal id of the user whose message triggered the
	// reply (0 if none).
	UserID int64
	// RequestID is the request of the reply this message is part of, when
	// that reply has stored reasoning (RecordReplies fills it in), so the
	// reasoning can be found from any part.
	RequestID string
}

// RecordWebhookMessage stores the mapping; recording the same message twice
// is harmless.
func (s *Store) RecordWebhookMessage(ctx context.Context, m WebhookMessage) error {
	err := s.q.RecordWebhookMessage(ctx, s.pool, query.RecordWebhookMessageParams{
		MessageID: m.MessageID, PersonalityID: m.PersonalityID, ChannelID: m.ChannelID, UserID: optionalID(m.UserID),
	})
	if err != nil {
		return fmt.Errorf("record webhook message: %w", mapError(err))
	}
	return nil
}

// PersonalityForMessage returns which personality posted messageID.
func (s *Store) PersonalityForMessage(ctx context.Context, messageID string) (int64, bool, error) {
	id, err := s.q.PersonalityForMessage(ctx, s.pool, messageID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("personality for message: %w", mapError(err))
	}
	return id, true, nil
}

// Webhook is a channel's webhook. Token is a credential: never log it.
type Webhook struct {
	ID    string
	Token string
}

// LogValue keeps the token out of structured logs.
func (w Webhook) LogValue() slog.Value { return slog.StringValue("webhook " + w.ID) }

// String keeps the token out of fmt output (%v, %+v).
func (w Webhook) String() string { return "webhook " + w.ID }

func webhookAAD(channelID string) []byte { return vault.RowAAD(webhooksTable, channelID) }

// ChannelWebhook returns the webhook the host created in channelID.
func (s *Store) ChannelWebhook(ctx context.Context, channelID string) (Webhook, bool, error) {
	if s.vault == nil {
		return Webhook{}, false, ErrNoVault
	}
	row, err := s.q.ChannelWebhook(ctx, s.pool, channelID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Webhook{}, false, nil
	}
	if err != nil {
		return Webhook{}, false, fmt.Errorf("load channel webhook: %w", mapError(err))
	}
	tok, err := s.vault.Open(vault.Sealed{Nonce: row.TokenNonce, Ciphertext: row.TokenCiphertext, KeyVersion: row.TokenKeyVersion},
		webhookAAD(channelID))
	if err != nil {
		return Webhook{}, false, fmt.Errorf("open webhook token of channel %s: %w", channelID, err)
	}
	return Webhook{ID: row.WebhookID, Token: string(tok)}, true, nil
}

// PutChannelWebhook stores (or replaces) the channel's webhook, sealing the
// token.
func (s *Store) PutChannelWebhook(ctx context.Context, channelID string, w Webhook) error {
	if s.vault == nil {
		return ErrNoVault
	}
	if w.Token == "" {
		return fmt.Errorf("%w: a webhook needs its token", ErrInvalidInput)
	}
	sealed, err := s.vault.Seal([]byte(w.Token), webhookAAD(channelID))
	if err != nil {
		return fmt.Errorf("seal webhook token: %w", err)
	}
	err = s.q.PutChannelWebhook(ctx, s.pool, query.PutChannelWebhookParams{
		ChannelID: channelID, WebhookID: w.ID, TokenNonce: sealed.Nonce,
		TokenCiphertext: sealed.Ciphertext, TokenKeyVersion: sealed.KeyVersion,
	})
	if err != nil {
		return fmt.Errorf("store channel webhook: %w", mapError(err))
	}
	return nil
}

// DeleteChannelWebhook forgets the channel's webhook (e.g. after Discord
// answered 404 for it).
func (s *Store) DeleteChannelWebhook(ctx context.Context, channelID string) error {
	if _, err := s.q.DeleteChannelWebhook(ctx, s.pool, channelID); err != nil {
		return fmt.Errorf("delete channel webhook: %w", mapError(err))
	}
	return nil
}

// ActivatedPersonality returns the personality activated in channelID.
func (s *Store) ActivatedPersonality(ctx context.Context, channelID string) (int64, bool, error) {
	id, err := s.q.ChannelActivation(ctx, s.pool, channelID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("channel activation: %w", mapError(err))
	}
	return id, true, nil
}

// ActivateChannel makes personalityID answer every message in channelID;
// byUserID (internal id, 0 if unknown) is who asked.
func (s *Store) ActivateChannel(ctx context.Context, channelID string, personalityID, byUserID int64) error {
	err := s.q.SetChannelActivation(ctx, s.pool, query.SetChannelActivationParams{
		ChannelID: channelID, PersonalityID: personalityID, ActivatedBy: optionalID(byUserID),
	})
	if err != nil {
		return fmt.Errorf("activate channel: %w", mapError(err))
	}
	return nil
}

// DeactivateChannel removes the channel's activation, reporting whether there
// was one.
func (s *Store) DeactivateChannel(ctx context.Context, channelID string) (bool, error) {
	n, err := s.q.DeleteChannelActivation(ctx, s.pool, channelID)
	if err != nil {
		return false, fmt.Errorf("deactivate channel: %w", mapError(err))
	}
	return n > 0, nil
}

// DMSession returns the personality the user last talked to in DMs.
func (s *Store) DMSession(ctx context.Context, userID int64) (int64, bool, error) {
	id, err := s.q.DMSession(ctx, s.pool, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("dm session: %w", mapError(err))
	}
	return id, true, nil
}

// SetDMSession records the personality the user talks to in DMs.
func (s *Store) SetDMSession(ctx context.Context, userID, personalityID int64) error {
	if err := s.q.SetDMSession(ctx, s.pool, query.SetDMSessionParams{UserID: userID, PersonalityID: personalityID}); err != nil {
		return fmt.Errorf("set dm session: %w", mapError(err))
	}
	return nil
}

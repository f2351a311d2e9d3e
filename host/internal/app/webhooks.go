package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/tzurot-go/tzurot/host/internal/chat"
	"github.com/tzurot-go/tzurot/host/internal/discord"
	"github.com/tzurot-go/tzurot/host/internal/store"
	"github.com/tzurot-go/tzurot/host/internal/vault"
)

// maxCachedWebhooks bounds the in-memory webhook cache (one entry per
// channel the bot speaks in; a few hundred bytes each).
const maxCachedWebhooks = 50_000

// webhookStore gives the Discord sender the channel webhooks kept in
// PostgreSQL (tokens sealed by the vault), with an in-memory cache in front:
// every reply needs its channel's webhook, and reading and decrypting it
// each time would cost a database round trip per reply. If another process
// replaces a channel's webhook, the stale cached one fails with "unknown
// webhook", the sender deletes it (here: cache and row) and finds the new
// one on the channel.
type webhookStore struct {
	st    *store.Store
	retry chat.RetryPolicy
	log   *slog.Logger

	mu    sync.Mutex
	cache map[string]discord.Webhook
}

func newWebhookStore(st *store.Store, retry chat.RetryPolicy, log *slog.Logger) *webhookStore {
	return &webhookStore{st: st, retry: retry, log: log, cache: map[string]discord.Webhook{}}
}

// ChannelWebhook implements discord.WebhookStore.
func (w *webhookStore) ChannelWebhook(ctx context.Context, channelID string) (discord.Webhook, bool, error) {
	w.mu.Lock()
	hook, ok := w.cache[channelID]
	w.mu.Unlock()
	if ok {
		return hook, true, nil
	}
	var found bool
	err := w.retry.Do(ctx, func(ctx context.Context) error {
		h, ok, err := w.st.ChannelWebhook(ctx, channelID)
		hook, found = discord.Webhook{ID: h.ID, Token: h.Token}, ok
		return err
	})
	if errors.Is(err, vault.ErrOpen) {
		// Sealed under a master key this process does not have. A webhook
		// is cheap to find again (the sender lists the channel's webhooks
		// and stores ours anew, sealed with the current key), so this
		// costs a reply nothing; the log says what happened.
		w.log.Warn("cannot open the stored webhook token of a channel; looking the webhook up again",
			slog.String("channel_id", channelID), slog.Any("err", err))
		return discord.Webhook{}, false, nil
	}
	if err != nil || !found {
		return discord.Webhook{}, false, err
	}
	w.remember(channelID, hook)
	return hook, true, nil
}

// PutChannelWebhook implements discord.WebhookStore.
func (w *webhookStore) PutChannelWebhook(ctx context.Context, channelID string, hook discord.Webhook) error {
	err := w.retry.Do(ctx, func(ctx context.Context) error {
		return w.st.PutChannelWebhook(ctx, channelID, store.Webhook{ID: hook.ID, Token: hook.Token})
	})
	if err != nil {
		return err
	}
	w.remember(channelID, hook)
	return nil
}

// DeleteChannelWebhook implements discord.WebhookStore.
func (w *webhookStore) DeleteChannelWebhook(ctx context.Context, channelID string) error {
	w.mu.Lock()
	delete(w.cache, channelID)
	w.mu.Unlock()
	return w.retry.Do(ctx, func(ctx context.Context) error {
		return w.st.DeleteChannelWebhook(ctx, channelID)
	})
}

func (w *webhookStore) remember(channelID string, hook discord.Webhook) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.cache) >= maxCachedWebhooks {
		// Forget an arbitrary entry: it is read back from the database
		// when its channel speaks again.
		for k := range w.cache {
			delete(w.cache, k)
			break
		}
	}
	w.cache[channelID] = hook
}

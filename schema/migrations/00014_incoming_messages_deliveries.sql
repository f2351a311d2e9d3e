-- 00014_incoming_messages_deliveries: what multi-process serving (River jobs) needs.
--
-- incoming_messages: one row per message a gateway process handed to the workers, written in the
-- same transaction as its River job (transactional enqueue: both or neither). seq orders the
-- channel's messages (the Discord snowflake, which grows with time); a worker posts a message's
-- replies only once every earlier message of the channel is done (done_at set), so replies come
-- in the order the messages arrived even with several workers (docs/scaling.md).
--
-- reply_deliveries: one row per reply (request id = message id + personality id), claimed
-- ('posting') before the first part is posted and finished ('posted', with the message ids)
-- after the last. A retried job finds the row and posts nothing: a reply is never posted twice.
-- Usage rows are keyed by the same request id (ON CONFLICT DO NOTHING), so it is metered once.
--
-- River's own tables (river_job, river_queue, ...) are created by River's migrator, run by the
-- same migration step under the same advisory lock (schema.MigrateDB), not by goose.

-- +goose Up
CREATE TABLE incoming_messages (
    message_id  text PRIMARY KEY,
    channel_id  text NOT NULL,
    seq         bigint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    done_at     timestamptz
);
CREATE INDEX incoming_messages_pending ON incoming_messages (channel_id, seq) WHERE done_at IS NULL;
CREATE INDEX incoming_messages_done ON incoming_messages (done_at) WHERE done_at IS NOT NULL;

CREATE TABLE reply_deliveries (
    request_id  text PRIMARY KEY,
    channel_id  text NOT NULL,
    state       text NOT NULL DEFAULT 'posting',
    message_ids text[] NOT NULL DEFAULT '{}',
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT reply_deliveries_state_check CHECK (state IN ('posting', 'posted', 'failed'))
);

-- +goose Down
DROP TABLE reply_deliveries;
DROP TABLE incoming_messages;

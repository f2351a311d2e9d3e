-- 00008_webhook_message_request: which request each posted message belongs to.
--
-- A reply longer than one Discord message is posted as several; reply_reasoning
-- keeps only the first message's id. The "Show reasoning" message command can
-- be used on any part, so each part now records the request id of the reply
-- it belongs to (set when the reply has stored reasoning). Rows written before
-- this migration have NULL: their reasoning is found from the first part only.

-- +goose Up
ALTER TABLE webhook_messages ADD COLUMN request_id text;

-- +goose Down
ALTER TABLE webhook_messages DROP COLUMN request_id;

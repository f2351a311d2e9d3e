-- 00012_memory_embeddings: vectors for memory search (issue 14, embeddings)
-- and the usage kind of the calls that make them.
--
-- memory_embeddings holds one vector per memory and embedding model: a
-- memory embedded by two models (a deployment that changed model) has two
-- rows, and search only compares vectors of one model. The vector is the
-- model's float32 values, little-endian, 4 bytes each (bytea: read into
-- the host with one copy, far cheaper than a real[] of 1,536 elements).
-- personality_id repeats the memory's so the host loads one personality's
-- vectors with an index scan, without a join. A row goes with its memory
-- (ON DELETE CASCADE): forgetting a memory forgets its vector.
--
-- PostgreSQL's `vector` extension is not required and not created here;
-- docs/performance.md says why the host computes the similarity itself.
--
-- usage_logs.kind gains 'embed': an embedding call bills input tokens only.

-- +goose Up
CREATE TABLE memory_embeddings (
    memory_id      bigint      NOT NULL REFERENCES personality_memories (id) ON DELETE CASCADE,
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    model          text        NOT NULL,
    dims           integer     NOT NULL,
    vector         bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (memory_id, model),
    CONSTRAINT memory_embeddings_model_format CHECK (length(model) BETWEEN 1 AND 256),
    CONSTRAINT memory_embeddings_dims_range CHECK (dims BETWEEN 1 AND 8192),
    CONSTRAINT memory_embeddings_vector_size CHECK (octet_length(vector) = 4 * dims)
);
CREATE INDEX memory_embeddings_personality_model_idx ON memory_embeddings (personality_id, model);

ALTER TABLE usage_logs DROP CONSTRAINT usage_logs_kind_check;
ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_kind_check CHECK (kind IN ('text', 'voice', 'image', 'embed'));

-- +goose Down
DELETE FROM usage_logs WHERE kind = 'embed';
ALTER TABLE usage_logs DROP CONSTRAINT usage_logs_kind_check;
ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_kind_check CHECK (kind IN ('text', 'voice', 'image'));
DROP TABLE memory_embeddings;

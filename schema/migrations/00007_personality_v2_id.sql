-- 00007_personality_v2_id: where a personality's tzurot v2 id is kept.
--
-- A v2 record the importer creates is keyed by shapes_id = 'v2:<id>'. A v2
-- record that adds to a personality imported from shapes.inc first (same
-- slug) cannot use shapes_id (that holds the shapes.inc id), so until now
-- its v2 id was kept nowhere and a later v2 import could find the
-- personality again only by its slug. v2_id holds it for both, unique like
-- shapes_id, and is what a v2 import matches on.
--
-- The data step copies the id of every personality a v2 import created; it
-- is safe to run again (it only fills NULLs). Ids of v2 records merged
-- before this migration were never stored and cannot be recovered: the
-- next v2 import finds those personalities by slug once more and stores
-- the id then.

-- +goose Up
ALTER TABLE personalities ADD COLUMN v2_id text;
ALTER TABLE personalities ADD CONSTRAINT personalities_v2_id_key UNIQUE (v2_id);

UPDATE personalities SET v2_id = substr(shapes_id, 4)
WHERE shapes_id LIKE 'v2:%' AND v2_id IS NULL;

-- +goose Down
-- Personalities a v2 import created keep their id in shapes_id; the ids of
-- merged v2 records go with the column (a v2 import after the rollback
-- finds them by slug, as before this migration).
ALTER TABLE personalities DROP COLUMN v2_id;

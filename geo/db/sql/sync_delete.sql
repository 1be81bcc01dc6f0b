-- Deleted records: the person goes (with their history and reviews); the tombstone stays so
-- that an older upsert cannot bring them back.
WITH del AS (
    DELETE FROM person p USING sync_plan s WHERE s.action = 'delete' AND p.id = s.person_id
)
INSERT INTO sync_tombstone AS t (id_hash, version, batch_id, deleted_at)
SELECT id_hash, version, :batch, coalesce(effective_at, :received)
FROM sync_plan WHERE action IN ('delete', 'tombstone')
ON CONFLICT (id_hash) DO UPDATE
    SET version = EXCLUDED.version, batch_id = EXCLUDED.batch_id, deleted_at = EXCLUDED.deleted_at
    WHERE t.version < EXCLUDED.version;

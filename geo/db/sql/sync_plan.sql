-- What to do with each staged record of one round (one record per person per round), against
-- the stored person and tombstone. Actions:
--   insert     a new person (upsert)                          accepted
--   update     a newer version with other content             accepted
--   delete     a newer delete of a stored person              accepted
--   tombstone  a delete of a person GridMap never held        accepted (remembered)
--   touch      a newer version, same content                  unchanged (version recorded)
--   same       the same version and content (a re-sent record) unchanged
--   stale      an older version than the stored one           unchanged
--   conflict   the same version with other content            rejected: version_conflict
--   unknown    move_out / death of a person not held          rejected: person_unknown
-- new_dwelling: the address did not change → the current dwelling stays (a grid worker's
-- confirmation is kept); a confident match → that dwelling; the current dwelling is among the
-- candidates → it stays; else none, and the record goes to the review queue (rematched).
-- A new person's id is drawn here, so later statements need not join the inserted rows back.
CREATE TEMP TABLE sync_plan ON COMMIT DROP AS
WITH j AS (
    SELECT s.*, p.id AS pid, p.status AS old_status, p.dwelling_id AS old_dwelling,
           p.source_version AS old_version, p.source_hash AS old_hash, p.address_raw AS old_address,
           p.dwelling_since AS old_since, t.version AS tomb_version,
           CASE s.op WHEN 'upsert' THEN 'active' WHEN 'move_out' THEN 'moved_out'
                     WHEN 'death' THEN 'deceased' END AS new_status
    FROM sync_stage s
    LEFT JOIN person p ON p.id_hash = s.id_hash
    LEFT JOIN sync_tombstone t ON t.id_hash = s.id_hash
    WHERE s.rnd = :rnd
), a AS (
    SELECT j.*, CASE
        WHEN pid IS NULL THEN CASE
            WHEN tomb_version IS NOT NULL AND version <= tomb_version THEN 'stale'
            WHEN op = 'upsert' THEN 'insert'
            WHEN op = 'delete' THEN 'tombstone'
            ELSE 'unknown' END
        WHEN old_version IS NOT NULL AND version < old_version THEN 'stale'
        WHEN old_version IS NOT NULL AND version = old_version THEN
            CASE WHEN old_hash = content_hash THEN 'same' ELSE 'conflict' END
        WHEN op = 'delete' THEN 'delete'
        WHEN old_hash = content_hash THEN 'touch'
        ELSE 'update' END AS action
    FROM j
)
SELECT a.*,
       coalesce(pid, CASE WHEN action = 'insert' THEN nextval('person_id_seq') END) AS person_id,
       CASE WHEN action = 'insert' THEN a.dwelling_id
            WHEN action <> 'update' THEN old_dwelling
            WHEN op <> 'upsert' THEN NULL
            WHEN old_status = 'active' AND address IS NOT DISTINCT FROM old_address THEN old_dwelling
            WHEN a.dwelling_id IS NOT NULL THEN a.dwelling_id
            WHEN old_status = 'active' AND old_dwelling = ANY (cand_ids) THEN old_dwelling
            END AS new_dwelling,
       (action IN ('insert', 'update') AND op = 'upsert'
        AND NOT (old_status IS NOT DISTINCT FROM 'active' AND address IS NOT DISTINCT FROM old_address))
           AS rematched
FROM a;

-- End of bulk mode (see sync_bulk_begin): links to dwellings deleted meanwhile are cleared, the
-- foreign key re-added (checked in one pass), the indexes rebuilt and the triggers enabled again.
-- Idempotent. The caller (geo.db.sync._bulk_end) recounts link_count (link_count_rebuild()) beside
-- it on another connection while this transaction blocks writers.
-- (The key is added first; only when its check fails, because a dwelling went away meanwhile,
-- are such links cleared and the key added again: the clearing scan costs as much as the check.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'person_dwelling_id_fkey'
                   AND conrelid = 'person'::regclass) THEN
        BEGIN
            ALTER TABLE person ADD CONSTRAINT person_dwelling_id_fkey
                FOREIGN KEY (dwelling_id) REFERENCES dwelling (id) ON DELETE SET NULL;
        EXCEPTION WHEN foreign_key_violation THEN
            UPDATE person p SET dwelling_id = NULL
            WHERE p.dwelling_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dwelling d WHERE d.id = p.dwelling_id);
            ALTER TABLE person ADD CONSTRAINT person_dwelling_id_fkey
                FOREIGN KEY (dwelling_id) REFERENCES dwelling (id) ON DELETE SET NULL;
        END;
    END IF;
END $$;
-- the same definition as migration 0005 (index-only scans for the grid figures)
CREATE INDEX IF NOT EXISTS person_dwelling_idx ON person (dwelling_id) INCLUDE (status, residence_type, care_tags);
CREATE INDEX IF NOT EXISTS person_name_idx ON person (name);
ALTER TABLE person ENABLE TRIGGER person_link_count_ins;
ALTER TABLE person ENABLE TRIGGER person_link_count_upd;
ALTER TABLE person ENABLE TRIGGER person_link_count_del;

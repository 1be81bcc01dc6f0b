-- Bulk mode, for a large full batch into a (nearly) empty person table: the per-row work that a
-- set-based rebuild does faster at the end is switched off for the load. The dwelling foreign
-- key is dropped (re-added and checked in one pass by sync_bulk_end), the two secondary indexes
-- are dropped (rebuilt sorted), and the link-count triggers are disabled (counts rebuilt).
-- Everything here is undone by sync_bulk_end, which runs when the batch finishes, or when another
-- batch starts and finds this one abandoned.
ALTER TABLE person DISABLE TRIGGER person_link_count_ins;
ALTER TABLE person DISABLE TRIGGER person_link_count_upd;
ALTER TABLE person DISABLE TRIGGER person_link_count_del;
ALTER TABLE person DROP CONSTRAINT IF EXISTS person_dwelling_id_fkey;
DROP INDEX IF EXISTS person_name_idx;
DROP INDEX IF EXISTS person_dwelling_idx;

-- Data versions for the tile cache: one row per map layer, bumped in the writing transaction by
-- statement-level triggers, so a reader sees a new version exactly when it can see the new data.
--
--   table                         bumps
--   admin_area                    communities, labels
--   compound                      compounds
--   building                      buildings, labels
--   dwelling                      buildings           (a building's household count)
--   grid, grid_assignment         buildings, grids, labels   when a changed row belongs to an active plan
--                                 drafts                     otherwise (draft edits leave public tiles cached)
--   grid_plan                     buildings, grids, labels, drafts when an old or new row is active; else drafts
--
-- A bump locks its rows in layer order, so statements bumping overlapping sets never deadlock on
-- this table. Writers of the same layer wait for each other's commit (one small row locked until the
-- writing transaction ends); two transactions that write two tables in opposite orders can still
-- deadlock here (PostgreSQL aborts one of them with a retryable error).
CREATE TABLE data_version (
    layer      text PRIMARY KEY,
    version    bigint NOT NULL DEFAULT 1,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO data_version (layer)
VALUES ('buildings'), ('communities'), ('compounds'), ('drafts'), ('grids'), ('labels');

CREATE FUNCTION data_version_bump(layers text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM data_version WHERE layer = ANY (layers) ORDER BY layer FOR UPDATE;
    UPDATE data_version SET version = version + 1, changed_at = now() WHERE layer = ANY (layers);
END $$;

-- The trigger's arguments are the layers to bump.
CREATE FUNCTION data_version_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM data_version_bump(TG_ARGV::text[]);
    RETURN NULL;
END $$;

-- grid / grid_assignment: public layers when the changed rows touch an active plan, drafts otherwise.
CREATE FUNCTION data_version_grid_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    active boolean := false;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT EXISTS (SELECT 1 FROM new_rows n JOIN grid_plan p ON p.id = n.plan_id WHERE p.status = 'active')
        INTO active;
    END IF;
    IF NOT active AND TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT EXISTS (SELECT 1 FROM old_rows o JOIN grid_plan p ON p.id = o.plan_id WHERE p.status = 'active')
        INTO active;
    END IF;
    IF active THEN
        PERFORM data_version_bump(ARRAY['buildings', 'grids', 'labels']);
    ELSE
        PERFORM data_version_bump(ARRAY['drafts']);
    END IF;
    RETURN NULL;
END $$;

-- grid_plan: approving, retiring or deleting an active plan changes the public layers.
CREATE FUNCTION data_version_plan_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    active boolean := false;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT EXISTS (SELECT 1 FROM new_rows WHERE status = 'active') INTO active;
    END IF;
    IF NOT active AND TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT EXISTS (SELECT 1 FROM old_rows WHERE status = 'active') INTO active;
    END IF;
    IF active THEN
        PERFORM data_version_bump(ARRAY['buildings', 'drafts', 'grids', 'labels']);
    ELSE
        PERFORM data_version_bump(ARRAY['drafts']);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER data_version_admin_area AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON admin_area
    FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('communities', 'labels');
CREATE TRIGGER data_version_compound AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON compound
    FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('compounds');
CREATE TRIGGER data_version_building AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON building
    FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('buildings', 'labels');
CREATE TRIGGER data_version_dwelling AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dwelling
    FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('buildings');

-- Transition tables need one trigger per event; TRUNCATE has none and bumps everything it can touch.
CREATE TRIGGER data_version_grid_ins AFTER INSERT ON grid
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_grid_rows();
CREATE TRIGGER data_version_grid_upd AFTER UPDATE ON grid
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_grid_rows();
CREATE TRIGGER data_version_grid_del AFTER DELETE ON grid
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_grid_rows();
CREATE TRIGGER data_version_grid_trunc AFTER TRUNCATE ON grid
    FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('buildings', 'drafts', 'grids', 'labels');

CREATE TRIGGER data_version_assignment_ins AFTER INSERT ON grid_assignment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_grid_rows();
CREATE TRIGGER data_version_assignment_upd AFTER UPDATE ON grid_assignment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_grid_rows();
CREATE TRIGGER data_version_assignment_del AFTER DELETE ON grid_assignment
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_grid_rows();
CREATE TRIGGER data_version_assignment_trunc AFTER TRUNCATE ON grid_assignment
    FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('buildings', 'drafts', 'grids', 'labels');

CREATE TRIGGER data_version_plan_ins AFTER INSERT ON grid_plan
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_plan_rows();
CREATE TRIGGER data_version_plan_upd AFTER UPDATE ON grid_plan
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_plan_rows();
CREATE TRIGGER data_version_plan_del AFTER DELETE ON grid_plan
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION data_version_plan_rows();
CREATE TRIGGER data_version_plan_trunc AFTER TRUNCATE ON grid_plan
    FOR EACH STATEMENT EXECUTE FUNCTION data_version_touch('buildings', 'drafts', 'grids', 'labels');

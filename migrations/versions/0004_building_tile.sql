-- What a public building tile shows, kept on the building row so that a tile is one index scan of
-- `building` (no per-building count of dwellings, no lookup of the active plan's assignment):
--
--   tile_households  the building's dwelling rows (NULL when it has none: the tile falls back to
--                    planned_dwellings), kept by statement-level triggers on dwelling;
--   tile_grid        the code(s) of its grid in its community's active plan, comma-separated and
--                    sorted (a tower split by units lists each part's grid), kept by triggers on
--                    grid_plan (approving / retiring a plan) and grid_assignment (rows of an active
--                    plan), and when a building moves to another community.
--
-- Both are written in the same transaction as the change, like data_version, so a tile rendered
-- for a new data version always sees them. Draft plans' tiles still look the grid up per building.
ALTER TABLE building ADD COLUMN tile_households integer, ADD COLUMN tile_grid text;

CREATE FUNCTION building_tile_households(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    UPDATE building b SET tile_households = c.n
    FROM (SELECT i.id, (SELECT nullif(count(*), 0)::integer FROM dwelling d WHERE d.building_id = i.id) AS n
          FROM unnest(ids) AS i(id)) AS c
    WHERE b.id = c.id AND b.tile_households IS DISTINCT FROM c.n
$$;

CREATE FUNCTION building_tile_grids(communities text[]) RETURNS void LANGUAGE sql AS $$
    WITH act AS (
        SELECT a.building_id, string_agg(DISTINCT g.code, ',' ORDER BY g.code) AS grid
        FROM grid_plan p
        JOIN grid_assignment a ON a.plan_id = p.id
        JOIN grid g ON g.id = a.grid_id
        WHERE p.status = 'active' AND p.community_code = ANY (communities)
        GROUP BY a.building_id
    ), cur AS (
        SELECT b.id, act.grid FROM building b LEFT JOIN act ON act.building_id = b.id
        WHERE b.community_code = ANY (communities)
    )
    UPDATE building b SET tile_grid = cur.grid FROM cur
    WHERE b.id = cur.id AND b.tile_grid IS DISTINCT FROM cur.grid
$$;

-- dwelling: recount the buildings whose set of dwellings changed
CREATE FUNCTION building_tile_dwelling_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE building SET tile_households = NULL WHERE tile_households IS NOT NULL;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT building_id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT building_id) INTO ids FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT x) INTO ids
        FROM new_rows n JOIN old_rows o ON o.id = n.id, LATERAL (VALUES (n.building_id), (o.building_id)) v(x)
        WHERE n.building_id <> o.building_id;
    END IF;
    IF ids IS NOT NULL THEN
        PERFORM building_tile_households(ids);
    END IF;
    RETURN NULL;
END $$;

-- grid_assignment: only rows of active plans change what public tiles show
CREATE FUNCTION building_tile_assignment_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    comms text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE building SET tile_grid = NULL WHERE tile_grid IS NOT NULL;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT p.community_code) INTO comms
        FROM (SELECT DISTINCT plan_id FROM new_rows) r JOIN grid_plan p ON p.id = r.plan_id WHERE p.status = 'active';
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT p.community_code) INTO comms
        FROM (SELECT DISTINCT plan_id FROM old_rows) r JOIN grid_plan p ON p.id = r.plan_id WHERE p.status = 'active';
    ELSE
        SELECT array_agg(DISTINCT p.community_code) INTO comms
        FROM (SELECT plan_id FROM new_rows UNION SELECT plan_id FROM old_rows) r
        JOIN grid_plan p ON p.id = r.plan_id WHERE p.status = 'active';
    END IF;
    IF comms IS NOT NULL THEN
        PERFORM building_tile_grids(comms);
    END IF;
    RETURN NULL;
END $$;

-- grid_plan: a plan that becomes active, or stops being active, redraws its community's buildings
CREATE FUNCTION building_tile_plan_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    comms text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE building SET tile_grid = NULL WHERE tile_grid IS NOT NULL;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT community_code) INTO comms FROM new_rows WHERE status = 'active';
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT community_code) INTO comms FROM old_rows WHERE status = 'active';
    ELSE
        SELECT array_agg(DISTINCT x) INTO comms
        FROM new_rows n JOIN old_rows o ON o.id = n.id,
             LATERAL (VALUES (n.community_code), (o.community_code)) v(x)
        WHERE (n.status = 'active') <> (o.status = 'active') OR (n.status = 'active' AND n.community_code <> o.community_code);
    END IF;
    IF comms IS NOT NULL THEN
        PERFORM building_tile_grids(comms);
    END IF;
    RETURN NULL;
END $$;

-- building: a building moved to another community takes its grid from that community's active plan
CREATE FUNCTION building_tile_building_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    comms text[];
BEGIN
    SELECT array_agg(DISTINCT n.community_code) INTO comms
    FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.community_code IS DISTINCT FROM o.community_code;
    IF comms IS NOT NULL THEN
        PERFORM building_tile_grids(comms);
    END IF;
    RETURN NULL;
END $$;

-- The triggers that call these functions (after INSERT, UPDATE, DELETE and TRUNCATE of dwelling,
-- grid_assignment and grid_plan; after UPDATE of building) are created by 0004_building_tile.py.

-- building: the inside-its-community check now looks only at rows whose geometry or community
-- changed (updating the tile columns must not re-test every footprint).
CREATE OR REPLACE FUNCTION building_in_community() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT n.ext_id, n.community_code INTO bad
        FROM changed_rows n JOIN old_rows o ON o.id = n.id JOIN admin_area a ON a.code = n.community_code
        WHERE (n.community_code IS DISTINCT FROM o.community_code OR n.geom::bytea IS DISTINCT FROM o.geom::bytea)
          AND a.geom IS NOT NULL AND NOT ST_Covers(a.geom, ST_PointOnSurface(n.geom))
        LIMIT 1;
    ELSE
        SELECT n.ext_id, n.community_code INTO bad
        FROM changed_rows n JOIN admin_area a ON a.code = n.community_code
        WHERE a.geom IS NOT NULL AND NOT ST_Covers(a.geom, ST_PointOnSurface(n.geom))
        LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'building % lies outside community %', bad.ext_id, bad.community_code
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER building_in_community_upd ON building;
CREATE TRIGGER building_in_community_upd AFTER UPDATE ON building
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION building_in_community();

-- what is there already
UPDATE building b SET tile_households = c.n
FROM (SELECT building_id, count(*)::integer AS n FROM dwelling GROUP BY building_id) AS c
WHERE c.building_id = b.id;
SELECT building_tile_grids(ARRAY(SELECT DISTINCT community_code FROM grid_plan WHERE status = 'active'));

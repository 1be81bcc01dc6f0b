-- GridMap initial schema. Storage CRS: CGCS2000 geographic (EPSG:4490) for every geometry.
CREATE EXTENSION IF NOT EXISTS postgis;

-- Administrative hierarchy with the official 12-digit 统计用区划代码 (province .. community/village).
-- Communities (level 'village') carry their boundary polygon once imported.
CREATE TABLE admin_area (
    code        char(12) PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
    name        text NOT NULL CHECK (name <> ''),
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'town', 'village')),
    parent_code char(12) REFERENCES admin_area (code) DEFERRABLE INITIALLY DEFERRED,
    geom        geometry(MultiPolygon, 4490) CHECK (geom IS NULL OR (ST_IsValid(geom) AND NOT ST_IsEmpty(geom))),
    geom_hash    text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((level = 'province') = (parent_code IS NULL))
);
CREATE INDEX admin_area_parent_idx ON admin_area (parent_code);
CREATE INDEX admin_area_geom_idx ON admin_area USING gist (geom);

-- Walled residential compounds (小区), the natural atom of a grid.
CREATE TABLE compound (
    id             serial PRIMARY KEY,
    ext_id         text NOT NULL CHECK (ext_id <> ''),
    name           text,
    community_code char(12) NOT NULL REFERENCES admin_area (code),
    geom           geometry(MultiPolygon, 4490) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    geom_hash       text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (community_code, ext_id)
);
CREATE INDEX compound_geom_idx ON compound USING gist (geom);

-- Buildings (楼栋). ext_id is the source id (e.g. the housing register's 房屋编号), unique city-wide.
CREATE TABLE building (
    id                bigserial PRIMARY KEY,
    ext_id            text NOT NULL UNIQUE CHECK (ext_id <> ''),
    community_code    char(12) NOT NULL REFERENCES admin_area (code),
    compound_id       integer REFERENCES compound (id) ON DELETE SET NULL,
    number            text,
    name              text,
    floors            smallint NOT NULL CHECK (floors >= 1),
    units             smallint NOT NULL DEFAULT 1 CHECK (units >= 1),
    planned_dwellings integer CHECK (planned_dwellings >= 0),
    use               text NOT NULL DEFAULT 'residential'
                      CHECK (use IN ('residential', 'bungalow', 'commercial', 'school', 'office', 'hospital', 'other')),
    geom              geometry(MultiPolygon, 4490) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    geom_hash          text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX building_geom_idx ON building USING gist (geom);
CREATE INDEX building_community_idx ON building (community_code);
CREATE INDEX building_compound_idx ON building (compound_id);

-- A building lies inside its community (when the community's boundary is known). Checked once per
-- statement over the transition table, so bulk loads pay one set-based join, not a lookup per row.
CREATE FUNCTION building_in_community() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.ext_id, n.community_code INTO bad
    FROM changed_rows n JOIN admin_area a ON a.code = n.community_code
    WHERE a.geom IS NOT NULL AND NOT ST_Covers(a.geom, ST_PointOnSurface(n.geom))
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'building % lies outside community %', bad.ext_id, bad.community_code
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER building_in_community_ins AFTER INSERT ON building
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION building_in_community();
CREATE TRIGGER building_in_community_upd AFTER UPDATE ON building
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION building_in_community();

-- Dwellings (户/室).
CREATE TABLE dwelling (
    id          bigserial PRIMARY KEY,
    ext_id      text UNIQUE,
    building_id bigint NOT NULL REFERENCES building (id) ON DELETE CASCADE,
    unit        smallint CHECK (unit >= 1),
    floor       smallint CHECK (floor BETWEEN -5 AND 200 AND floor <> 0),
    room        text NOT NULL CHECK (room <> ''),
    address     text,
    use         text NOT NULL DEFAULT 'owner' CHECK (use IN ('owner', 'rented', 'vacant', 'commercial')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX dwelling_place_idx ON dwelling (building_id, coalesce(unit, 0), room);

-- Persons linked to a dwelling (人房关联). The ID number is never stored in plain text:
-- id_hash = HMAC-SHA256(key, id) for matching, id_cipher = AES-GCM(key, id), id_masked for display.
CREATE TABLE person (
    id             bigserial PRIMARY KEY,
    id_hash        bytea NOT NULL UNIQUE,
    id_cipher      bytea NOT NULL,
    id_masked      text NOT NULL CHECK (id_masked ~ '^[0-9]{6}\*+[0-9]{3}[0-9X]$'),
    name           text NOT NULL CHECK (name <> ''),
    sex            text CHECK (sex IN ('男', '女')),
    ethnicity      text,
    birth_date     date,
    phone          text,
    residence_type text CHECK (residence_type IN ('常住', '流动', '寄住')),
    relation       text,
    care_tags      text[] NOT NULL DEFAULT '{}',
    dwelling_id    bigint REFERENCES dwelling (id) ON DELETE SET NULL,
    address_raw    text,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'moved_out', 'deceased')),
    version        bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX person_dwelling_idx ON person (dwelling_id);
CREATE INDEX person_name_idx ON person (name);

-- Grid plans: a community's grids as a versioned whole. Exactly one active plan per community.
CREATE TABLE grid_plan (
    id             serial PRIMARY KEY,
    community_code char(12) NOT NULL REFERENCES admin_area (code),
    status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'retired', 'discarded')),
    base_plan_id   integer REFERENCES grid_plan (id),
    params         jsonb NOT NULL DEFAULT '{}',
    summary        jsonb NOT NULL DEFAULT '{}',
    note           text,
    created_by     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    approved_by    text,
    approved_at    timestamptz,
    retired_at     timestamptz,
    CHECK ((status IN ('active', 'retired')) = (approved_at IS NOT NULL))
);
CREATE UNIQUE INDEX grid_plan_one_active_idx ON grid_plan (community_code) WHERE status = 'active';

-- Grids of a plan. Code = 12-digit community code + 3-digit sequence (GB/T 30428.1 style).
CREATE TABLE grid (
    id             serial PRIMARY KEY,
    plan_id        integer NOT NULL REFERENCES grid_plan (id) ON DELETE CASCADE,
    code           char(15) NOT NULL CHECK (code ~ '^[0-9]{15}$'),
    community_code char(12) NOT NULL REFERENCES admin_area (code),
    name           text,
    kind           text NOT NULL DEFAULT 'basic' CHECK (kind IN ('basic', 'dedicated', 'micro')),
    parent_code    char(15),
    households     integer CHECK (households >= 0),
    geom           geometry(MultiPolygon, 4490) CHECK (geom IS NULL OR ST_IsValid(geom)),
    UNIQUE (plan_id, code),
    CONSTRAINT grid_code_in_community CHECK (left(code, 12) = community_code)
);
CREATE INDEX grid_geom_idx ON grid USING gist (geom);
CREATE INDEX grid_code_idx ON grid (code);

-- Every grid code ever issued, so that a retired code is never reused for another area.
CREATE TABLE grid_code_registry (
    code           char(15) PRIMARY KEY CHECK (code ~ '^[0-9]{15}$'),
    community_code char(12) NOT NULL REFERENCES admin_area (code),
    issued_plan_id integer REFERENCES grid_plan (id) ON DELETE SET NULL,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz
);

-- Building -> grid of each plan. A tower split by stairwell units has one row per part.
CREATE TABLE grid_assignment (
    plan_id     integer NOT NULL REFERENCES grid_plan (id) ON DELETE CASCADE,
    building_id bigint NOT NULL REFERENCES building (id) ON DELETE CASCADE,
    part        text NOT NULL DEFAULT '',
    grid_id     integer NOT NULL REFERENCES grid (id) ON DELETE CASCADE,
    households  integer,
    -- the building's (or part's) cell: its share of the community; a grid's polygon is the union of its cells
    cell        geometry(MultiPolygon, 4490) CHECK (cell IS NULL OR ST_IsValid(cell)),
    PRIMARY KEY (plan_id, building_id, part)
);
CREATE INDEX grid_assignment_grid_idx ON grid_assignment (grid_id);

-- Whether a dwelling (unit, floor) belongs to a part of a split building. Part labels: '' the whole
-- building, '1-2' units 1 to 2, '3' unit 3, '3:1-12' unit 3 floors 1 to 12, segments joined by ',';
-- '#k/n' (units and floors unknown) puts every dwelling in part 1.
CREATE FUNCTION part_covers(part text, unit integer, floor integer) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    seg text;
    u text;
    f text;
BEGIN
    IF part IS NULL OR part = '' THEN
        RETURN true;
    END IF;
    IF left(part, 1) = '#' THEN
        RETURN part LIKE '#1/%';
    END IF;
    FOREACH seg IN ARRAY string_to_array(part, ',') LOOP
        u := split_part(seg, ':', 1);
        f := split_part(seg, ':', 2);
        IF coalesce(unit, 1) BETWEEN split_part(u, '-', 1)::int
                                 AND coalesce(nullif(split_part(u, '-', 2), ''), split_part(u, '-', 1))::int THEN
            IF f = '' OR coalesce(floor, 1) BETWEEN split_part(f, '-', 1)::int
                                             AND coalesce(nullif(split_part(f, '-', 2), ''), split_part(f, '-', 1))::int THEN
                RETURN true;
            END IF;
        END IF;
    END LOOP;
    RETURN false;
END $$;

-- Users, roles and bearer tokens (only a hash of each token is stored).
CREATE TABLE app_user (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    role        text NOT NULL CHECK (role IN ('admin', 'planner', 'worker', 'sync', 'viewer')),
    scopes      text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);
CREATE TABLE api_token (
    id           serial PRIMARY KEY,
    user_id      integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    label        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Grid workers (网格员 / 网格长): bound to a grid code, which is stable across plans.
CREATE TABLE grid_worker (
    id        serial PRIMARY KEY,
    name      text NOT NULL CHECK (name <> ''),
    phone     text,
    grid_code char(15) NOT NULL CHECK (grid_code ~ '^[0-9]{15}$'),
    role      text NOT NULL DEFAULT 'worker' CHECK (role IN ('worker', 'head')),
    user_id   integer REFERENCES app_user (id) ON DELETE SET NULL,
    active    boolean NOT NULL DEFAULT true
);
CREATE INDEX grid_worker_grid_idx ON grid_worker (grid_code);

-- Who read or changed what.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    user_id   integer REFERENCES app_user (id) ON DELETE SET NULL,
    user_name text,
    role      text,
    action    text NOT NULL,
    resource  text NOT NULL,
    detail    jsonb NOT NULL DEFAULT '{}',
    client    text
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- File imports and what they rejected (kept with the reason, never lost).
CREATE TABLE import_run (
    id          serial PRIMARY KEY,
    source      text NOT NULL,
    layer       text,
    kind        text NOT NULL CHECK (kind IN ('divisions', 'communities', 'compounds', 'buildings', 'dwellings', 'persons')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    report      jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE import_reject (
    id         bigserial PRIMARY KEY,
    run_id     integer NOT NULL REFERENCES import_run (id) ON DELETE CASCADE,
    feature_id text,
    line_no    integer,
    reason     text NOT NULL,
    detail     text,
    properties jsonb,
    geom_wkt   text
);
CREATE INDEX import_reject_run_idx ON import_reject (run_id);

-- Public-security sync batches and their rejected records.
CREATE TABLE sync_batch (
    id          uuid PRIMARY KEY,
    source      text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('full', 'incremental')),
    produced_at timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'running', 'done', 'failed')),
    received    integer NOT NULL DEFAULT 0,
    accepted    integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0,
    unchanged   integer NOT NULL DEFAULT 0,
    checkpoint  bigint NOT NULL DEFAULT 0,
    report      jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE sync_reject (
    id      bigserial PRIMARY KEY,
    batch_id uuid NOT NULL REFERENCES sync_batch (id) ON DELETE CASCADE,
    line_no integer NOT NULL,
    reason  text NOT NULL,
    detail  text,
    record  jsonb,
    UNIQUE (batch_id, line_no)
);

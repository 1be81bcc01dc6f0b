-- Public-security (公安) sync: what the police record adds to a person, the residence history,
-- the review queue of addresses that did not match one dwelling for certain, tombstones of deleted
-- records, the change feed back to the police, and link counters (人房关联完善率).

-- A person as the police record has it. source_version / source_hash are the version and content
-- hash of the last police record applied (an older version never overwrites a newer one; the same
-- version with other content is a conflict). addr_community / addr_building are where the address
-- points even when no dwelling could be linked (so an unlinked resident still counts against the
-- right community and grid). dwelling_since is when the current link began.
ALTER TABLE person
    ADD COLUMN population_type text CHECK (population_type IN ('户籍', '流动', '境外')),
    ADD COLUMN hukou_address   text,
    ADD COLUMN source_version  bigint,
    ADD COLUMN source_hash     bytea,
    ADD COLUMN addr_community  char(12),
    ADD COLUMN addr_building   bigint,
    ADD COLUMN dwelling_since  timestamptz;

-- A batch is processed in chunks of chunk_size records, each committed with the checkpoint
-- (records done, byte offset) so that a killed run resumes where it stopped.
ALTER TABLE sync_batch
    ADD COLUMN format       text,
    ADD COLUMN encoding     text,
    ADD COLUMN sha256       text,
    ADD COLUMN size_bytes   bigint,
    ADD COLUMN chunk_size   integer CHECK (chunk_size > 0),
    ADD COLUMN offset_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN started_at   timestamptz,
    ADD COLUMN path         text,
    ADD COLUMN error        text,
    ADD COLUMN tallies      jsonb NOT NULL DEFAULT '{}';

-- Deleted records: a stale upsert (older version) must not bring a deleted person back.
CREATE TABLE sync_tombstone (
    id_hash    bytea PRIMARY KEY,
    version    bigint NOT NULL,
    batch_id   uuid NOT NULL REFERENCES sync_batch (id) ON DELETE CASCADE,
    deleted_at timestamptz
);

-- Past stays: a person moved out of dwelling_id (into to_dwelling_id, or away). The current stay
-- is person.dwelling_id since person.dwelling_since.
CREATE TABLE residence_history (
    id             bigserial PRIMARY KEY,
    person_id      bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    dwelling_id    bigint REFERENCES dwelling (id) ON DELETE SET NULL,
    moved_in_at    timestamptz,
    moved_out_at   timestamptz NOT NULL,
    to_dwelling_id bigint REFERENCES dwelling (id) ON DELETE SET NULL,
    out_reason     text NOT NULL CHECK (out_reason IN ('moved', 'move_out', 'death', 'corrected')),
    batch_id       uuid REFERENCES sync_batch (id) ON DELETE SET NULL,
    by_user        text
);
CREATE INDEX residence_history_person_idx ON residence_history (person_id);

-- Addresses that did not resolve to one dwelling with confidence: a grid worker picks one of the
-- ranked candidates (or another dwelling). One open review per person.
CREATE TABLE sync_review (
    id             bigserial PRIMARY KEY,
    batch_id       uuid REFERENCES sync_batch (id) ON DELETE SET NULL,
    line_no        integer,
    person_id      bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    address        text,
    reason         text NOT NULL,
    candidates     jsonb NOT NULL DEFAULT '[]',
    community_code char(12),
    building_id    bigint,
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'confirmed', 'superseded', 'dismissed')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    text,
    dwelling_id    bigint REFERENCES dwelling (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX sync_review_open_idx ON sync_review (person_id) WHERE status = 'open';
CREATE INDEX sync_review_community_idx ON sync_review (community_code) WHERE status = 'open';
CREATE INDEX sync_review_batch_idx ON sync_review (batch_id);

-- What grid workers changed, for the police to pull in order (GET /sync/changes?since=CURSOR).
-- Writers take an exclusive transaction-level advisory lock right before inserting, so events are
-- numbered in commit order: a reader never sees event n+1 before event n has committed.
CREATE TABLE sync_event (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL
                    CHECK (kind IN ('match_confirmed', 'dwelling_corrected', 'resident_added', 'moved_out')),
    person_id       bigint REFERENCES person (id) ON DELETE SET NULL,
    id_hash         bytea NOT NULL,
    id_cipher       bytea NOT NULL,
    id_masked       text NOT NULL,
    dwelling_id     bigint REFERENCES dwelling (id) ON DELETE SET NULL,
    old_dwelling_id bigint,
    detail          jsonb NOT NULL DEFAULT '{}',
    user_id         integer REFERENCES app_user (id) ON DELETE SET NULL,
    user_name       text
);

-- Active residents and those linked to a dwelling, per (community, building, stairwell unit); kept
-- by the statement triggers below, so the link rate of any area is a sum over a small table.
-- community_code '' = the address named no known community; building_id 0 / unit 0 = not known.
CREATE TABLE link_count (
    community_code text   NOT NULL,
    building_id    bigint NOT NULL,
    unit           integer NOT NULL,
    persons        bigint NOT NULL DEFAULT 0,
    linked         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (community_code, building_id, unit)
);
-- The same, per sync batch: what the batch changed (before = after - delta).
CREATE TABLE sync_link_delta (
    batch_id       uuid   NOT NULL REFERENCES sync_batch (id) ON DELETE CASCADE,
    community_code text   NOT NULL,
    building_id    bigint NOT NULL,
    unit           integer NOT NULL,
    persons        bigint NOT NULL DEFAULT 0,
    linked         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, community_code, building_id, unit)
);

-- The place of a person row: its dwelling's building (and unit) when linked, else where its
-- address pointed. Each statement on person adds +1 for the new rows and -1 for the old ones (an
-- update that leaves status, dwelling and address place alone cancels out); when
-- the session is a sync batch (gridmap.sync_batch set), the change is also kept per batch.
CREATE FUNCTION link_count_touch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    batch uuid := nullif(current_setting('gridmap.sync_batch', true), '')::uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH chg AS (
        SELECT coalesce(b.community_code, n.addr_community, '') AS community_code,
               coalesce(b.id, n.addr_building, 0) AS building_id,
               CASE WHEN b.id IS NULL THEN 0 ELSE coalesce(d.unit, 0) END AS unit,
               1 AS persons, (b.id IS NOT NULL)::int AS linked
        FROM new_rows n LEFT JOIN dwelling d ON d.id = n.dwelling_id LEFT JOIN building b ON b.id = d.building_id
        WHERE n.status = 'active'
    ), agg AS (
        SELECT community_code, building_id, unit, sum(persons) AS persons, sum(linked) AS linked
        FROM chg GROUP BY 1, 2, 3 HAVING sum(persons) <> 0 OR sum(linked) <> 0
    ), lc AS (
        INSERT INTO link_count AS t (community_code, building_id, unit, persons, linked)
        SELECT * FROM agg ORDER BY 1, 2, 3
        ON CONFLICT (community_code, building_id, unit)
        DO UPDATE SET persons = t.persons + EXCLUDED.persons, linked = t.linked + EXCLUDED.linked
    )
    INSERT INTO sync_link_delta AS t (batch_id, community_code, building_id, unit, persons, linked)
    SELECT batch, * FROM agg WHERE batch IS NOT NULL ORDER BY 2, 3, 4
    ON CONFLICT (batch_id, community_code, building_id, unit)
    DO UPDATE SET persons = t.persons + EXCLUDED.persons, linked = t.linked + EXCLUDED.linked;
    ELSIF TG_OP = 'DELETE' THEN
        WITH chg AS (
        SELECT coalesce(b.community_code, o.addr_community, '') AS community_code,
               coalesce(b.id, o.addr_building, 0) AS building_id,
               CASE WHEN b.id IS NULL THEN 0 ELSE coalesce(d.unit, 0) END AS unit,
               -1 AS persons, -(b.id IS NOT NULL)::int AS linked
        FROM old_rows o LEFT JOIN dwelling d ON d.id = o.dwelling_id LEFT JOIN building b ON b.id = d.building_id
        WHERE o.status = 'active'
    ), agg AS (
        SELECT community_code, building_id, unit, sum(persons) AS persons, sum(linked) AS linked
        FROM chg GROUP BY 1, 2, 3 HAVING sum(persons) <> 0 OR sum(linked) <> 0
    ), lc AS (
        INSERT INTO link_count AS t (community_code, building_id, unit, persons, linked)
        SELECT * FROM agg ORDER BY 1, 2, 3
        ON CONFLICT (community_code, building_id, unit)
        DO UPDATE SET persons = t.persons + EXCLUDED.persons, linked = t.linked + EXCLUDED.linked
    )
    INSERT INTO sync_link_delta AS t (batch_id, community_code, building_id, unit, persons, linked)
    SELECT batch, * FROM agg WHERE batch IS NOT NULL ORDER BY 2, 3, 4
    ON CONFLICT (batch_id, community_code, building_id, unit)
    DO UPDATE SET persons = t.persons + EXCLUDED.persons, linked = t.linked + EXCLUDED.linked;
    ELSE
        -- rows whose place did not change cancel out in the sums (no join of the two transition
        -- tables: they have no index, and a chunk's statements run with hash joins off)
        WITH chg AS (
        SELECT coalesce(b.community_code, o.addr_community, '') AS community_code,
               coalesce(b.id, o.addr_building, 0) AS building_id,
               CASE WHEN b.id IS NULL THEN 0 ELSE coalesce(d.unit, 0) END AS unit,
               -1 AS persons, -(b.id IS NOT NULL)::int AS linked
        FROM old_rows o LEFT JOIN dwelling d ON d.id = o.dwelling_id LEFT JOIN building b ON b.id = d.building_id
        WHERE o.status = 'active'
        UNION ALL
        SELECT coalesce(b.community_code, n.addr_community, ''), coalesce(b.id, n.addr_building, 0),
               CASE WHEN b.id IS NULL THEN 0 ELSE coalesce(d.unit, 0) END, 1, (b.id IS NOT NULL)::int
        FROM new_rows n LEFT JOIN dwelling d ON d.id = n.dwelling_id LEFT JOIN building b ON b.id = d.building_id
        WHERE n.status = 'active'
    ), agg AS (
        SELECT community_code, building_id, unit, sum(persons) AS persons, sum(linked) AS linked
        FROM chg GROUP BY 1, 2, 3 HAVING sum(persons) <> 0 OR sum(linked) <> 0
    ), lc AS (
        INSERT INTO link_count AS t (community_code, building_id, unit, persons, linked)
        SELECT * FROM agg ORDER BY 1, 2, 3
        ON CONFLICT (community_code, building_id, unit)
        DO UPDATE SET persons = t.persons + EXCLUDED.persons, linked = t.linked + EXCLUDED.linked
    )
    INSERT INTO sync_link_delta AS t (batch_id, community_code, building_id, unit, persons, linked)
    SELECT batch, * FROM agg WHERE batch IS NOT NULL ORDER BY 2, 3, 4
    ON CONFLICT (batch_id, community_code, building_id, unit)
    DO UPDATE SET persons = t.persons + EXCLUDED.persons, linked = t.linked + EXCLUDED.linked;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION link_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM link_count;
    RETURN NULL;
END $$;

CREATE TRIGGER person_link_count_ins AFTER INSERT ON person
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION link_count_touch();
CREATE TRIGGER person_link_count_upd AFTER UPDATE ON person
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION link_count_touch();
CREATE TRIGGER person_link_count_del AFTER DELETE ON person
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION link_count_touch();
CREATE TRIGGER person_link_count_trunc AFTER TRUNCATE ON person
    FOR EACH STATEMENT EXECUTE FUNCTION link_count_truncate();

-- Recount everything (after dwellings or buildings were moved between communities, which the
-- person triggers do not see).
CREATE FUNCTION link_count_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM link_count;
    INSERT INTO link_count (community_code, building_id, unit, persons, linked)
    SELECT coalesce(b.community_code, p.addr_community, ''), coalesce(b.id, p.addr_building, 0),
           CASE WHEN b.id IS NULL THEN 0 ELSE coalesce(d.unit, 0) END, count(*), count(b.id)
    FROM person p LEFT JOIN dwelling d ON d.id = p.dwelling_id LEFT JOIN building b ON b.id = d.building_id
    WHERE p.status = 'active'
    GROUP BY 1, 2, 3;
$$;

-- Whether a grid part label of a split building (geo/balance/towers.py: '' whole building,
-- '1-2' units 1-2, '3:1-12' unit 3 floors 1-12, segments joined by ',', '#2/3' no unit known)
-- includes stairwell unit u.
CREATE FUNCTION grid_part_has_unit(part text, u integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT part = '' OR EXISTS (
        SELECT 1 FROM unnest(string_to_array(part, ',')) AS seg
        WHERE seg !~ '^#' AND CASE
            WHEN position(':' IN seg) > 0 THEN split_part(seg, ':', 1)::int = u
            WHEN position('-' IN seg) > 0 THEN u BETWEEN split_part(seg, '-', 1)::int AND split_part(seg, '-', 2)::int
            ELSE seg::int = u END)
$$;

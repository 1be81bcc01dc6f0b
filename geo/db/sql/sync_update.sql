-- Newer records of stored persons. move_out / death change the status and end the link; the
-- person's other fields are only taken from an upsert. The local revision counter goes up.
UPDATE person p SET
    name            = CASE WHEN s.op = 'upsert' THEN s.name ELSE p.name END,
    sex             = CASE WHEN s.op = 'upsert' THEN s.sex ELSE p.sex END,
    ethnicity       = CASE WHEN s.op = 'upsert' THEN s.ethnicity ELSE p.ethnicity END,
    birth_date      = CASE WHEN s.op = 'upsert' THEN s.birth_date ELSE p.birth_date END,
    phone           = CASE WHEN s.op = 'upsert' THEN s.phone ELSE p.phone END,
    relation        = CASE WHEN s.op = 'upsert' THEN s.relation ELSE p.relation END,
    care_tags       = CASE WHEN s.op = 'upsert' THEN coalesce(s.care_tags, '{}') ELSE p.care_tags END,
    population_type = CASE WHEN s.op = 'upsert' THEN s.population_type ELSE p.population_type END,
    hukou_address   = CASE WHEN s.op = 'upsert' THEN s.hukou_address ELSE p.hukou_address END,
    address_raw     = CASE WHEN s.op = 'upsert' THEN s.address ELSE p.address_raw END,
    addr_community  = CASE WHEN s.rematched THEN s.area_community ELSE p.addr_community END,
    addr_building   = CASE WHEN s.rematched THEN s.area_building ELSE p.addr_building END,
    status          = s.new_status,
    dwelling_id     = s.new_dwelling,
    dwelling_since  = CASE WHEN s.new_dwelling IS NOT DISTINCT FROM s.old_dwelling THEN p.dwelling_since
                           WHEN s.new_dwelling IS NULL THEN NULL
                           ELSE coalesce(s.effective_at, :received) END,
    source_version  = s.version,
    source_hash     = s.content_hash,
    version         = p.version + 1,
    updated_at      = now()
FROM sync_plan s
WHERE s.action = 'update' AND p.id = s.person_id;

UPDATE person p SET source_version = s.version
FROM sync_plan s WHERE s.action = 'touch' AND p.id = s.person_id;

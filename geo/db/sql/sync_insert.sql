-- New persons (their ids were drawn in sync_plan); a deleted person's tombstone goes once the
-- person is back with a newer version.
WITH ins AS (
    INSERT INTO person (id, id_hash, id_cipher, id_masked, name, sex, ethnicity, birth_date, phone,
                        residence_type, relation, care_tags, dwelling_id, address_raw, status,
                        population_type, hukou_address, source_version, source_hash,
                        addr_community, addr_building, dwelling_since)
    SELECT person_id, id_hash, id_cipher, id_masked, name, sex, ethnicity, birth_date, phone,
           residence_type, relation, coalesce(care_tags, '{}'), new_dwelling, address, 'active',
           population_type, hukou_address, version, content_hash, area_community, area_building,
           CASE WHEN new_dwelling IS NOT NULL THEN coalesce(effective_at, :received) END
    FROM sync_plan WHERE action = 'insert'
    ORDER BY person_id
)
DELETE FROM sync_tombstone t USING sync_plan s
WHERE s.action = 'insert' AND t.id_hash = s.id_hash;

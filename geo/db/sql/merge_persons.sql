-- Merge staged persons keyed on the keyed hash of their ID number. A changed record bumps its
-- version; an identical one is left alone. The stored cipher of the ID number is kept.
WITH src AS (
    SELECT s.*, d.id AS dwelling_id
    FROM stage_person s LEFT JOIN dwelling d ON d.ext_id = s.dwelling_ext
    WHERE s.dwelling_ext IS NULL OR d.id IS NOT NULL
), merged AS (
    INSERT INTO person AS p (id_hash, id_cipher, id_masked, name, sex, ethnicity, birth_date, phone,
                             residence_type, relation, care_tags, dwelling_id, address_raw)
    SELECT id_hash, id_cipher, id_masked, name, sex, ethnicity, birth_date, phone, residence_type,
           relation, care_tags, dwelling_id, address FROM src
    ON CONFLICT (id_hash) DO UPDATE
        SET name = EXCLUDED.name, sex = EXCLUDED.sex, ethnicity = EXCLUDED.ethnicity,
            birth_date = EXCLUDED.birth_date, phone = EXCLUDED.phone,
            residence_type = EXCLUDED.residence_type, relation = EXCLUDED.relation,
            care_tags = EXCLUDED.care_tags, dwelling_id = EXCLUDED.dwelling_id,
            address_raw = EXCLUDED.address_raw, version = p.version + 1, updated_at = now()
        WHERE (p.name, p.sex, p.ethnicity, p.birth_date, p.phone, p.residence_type, p.relation,
               p.care_tags, p.dwelling_id, p.address_raw)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.sex, EXCLUDED.ethnicity, EXCLUDED.birth_date,
                                EXCLUDED.phone, EXCLUDED.residence_type, EXCLUDED.relation,
                                EXCLUDED.care_tags, EXCLUDED.dwelling_id, EXCLUDED.address_raw)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM merged;

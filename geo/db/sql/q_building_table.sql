-- A building's 楼盘表: every dwelling (unit, floor, room) with its active residents; :parts (parts of a
-- split building) limits it to the dwellings a grid worker looks after, NULL shows all.
SELECT b.ext_id AS building_id, b.number, b.name, b.floors, b.units, b.use, b.community_code,
       c.name AS compound, d.id AS dwelling_pk, d.ext_id AS dwelling_id, d.unit, d.floor, d.room, d.use AS dwelling_use,
       d.address, p.id AS person_pk, p.name AS person_name, p.sex, p.birth_date, p.phone, p.residence_type,
       p.relation, p.care_tags, p.id_masked, p.id_cipher
FROM building b
LEFT JOIN compound c ON c.id = b.compound_id
LEFT JOIN dwelling d ON d.building_id = b.id
     AND (CAST(:parts AS text[]) IS NULL OR EXISTS (
          SELECT 1 FROM unnest(CAST(:parts AS text[])) pt WHERE part_covers(pt, d.unit, d.floor)))
LEFT JOIN person p ON p.dwelling_id = d.id AND p.status = 'active'
WHERE b.ext_id = :building
ORDER BY d.unit NULLS FIRST, d.floor DESC NULLS LAST, d.room, p.relation = '户主' DESC, p.birth_date

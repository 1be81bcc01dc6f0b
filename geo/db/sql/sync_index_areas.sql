-- Areas the address matcher knows: the communities that have buildings and everything above them.
WITH RECURSIVE a AS (
    SELECT code, name, level, parent_code FROM admin_area
    WHERE code IN (SELECT DISTINCT community_code FROM building)
    UNION
    SELECT p.code, p.name, p.level, p.parent_code FROM admin_area p JOIN a ON p.code = a.parent_code
)
SELECT code, name, level, parent_code FROM a ORDER BY code

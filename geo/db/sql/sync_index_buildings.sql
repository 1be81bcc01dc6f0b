-- Buildings for the address matcher (the number as written in addresses: 3号楼, B座, 平房区12号).
SELECT id, number, compound_id, community_code, units FROM building ORDER BY id

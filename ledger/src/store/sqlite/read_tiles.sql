SELECT level, idx, hashes FROM tiles
WHERE (level, idx) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))

SELECT t.level, t.idx, t.hashes FROM tiles t
JOIN UNNEST($1::INT[], $2::BIGINT[]) AS want (level, idx) ON t.level = want.level AND t.idx = want.idx

INSERT INTO cursors (name, next_seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET next_seq = excluded.next_seq

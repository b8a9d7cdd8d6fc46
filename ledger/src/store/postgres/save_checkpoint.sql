INSERT INTO checkpoints (size, root, note, published_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (size) DO NOTHING

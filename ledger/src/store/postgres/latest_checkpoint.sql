SELECT size, root, note, published_at FROM checkpoints ORDER BY size DESC LIMIT 1

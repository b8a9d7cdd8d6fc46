SELECT size, root, note, published_at FROM checkpoints WHERE size = ?1

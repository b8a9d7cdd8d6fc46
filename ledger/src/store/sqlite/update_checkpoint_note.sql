UPDATE checkpoints SET note = ?2 WHERE size = ?1

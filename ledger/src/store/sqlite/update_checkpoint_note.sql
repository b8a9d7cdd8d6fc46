UPDATE checkpoints SET note = ?3 WHERE size = ?1 AND note = ?2

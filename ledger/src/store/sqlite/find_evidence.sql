SELECT content FROM evidence WHERE reference = ?1

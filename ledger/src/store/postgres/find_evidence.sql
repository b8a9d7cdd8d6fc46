SELECT reference, content FROM evidence WHERE seq = $1

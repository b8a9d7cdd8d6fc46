DELETE FROM evidence WHERE seq IN (SELECT value FROM json_each(?1))

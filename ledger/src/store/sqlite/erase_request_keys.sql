DELETE FROM request_keys WHERE pseudonym = ?1

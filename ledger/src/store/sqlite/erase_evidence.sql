DELETE FROM evidence WHERE pseudonym = ?1

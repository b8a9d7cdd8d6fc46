DELETE FROM subjects WHERE pseudonym = ?1

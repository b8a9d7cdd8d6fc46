SELECT next_seq FROM cursors WHERE name = $1

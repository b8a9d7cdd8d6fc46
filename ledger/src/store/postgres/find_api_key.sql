SELECT secret_hash, scopes FROM api_keys WHERE id = $1

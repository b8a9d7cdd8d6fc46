-- wrk script: POST /v1/decisions for subjects s0 … s9999 in turn.
-- Usage: see BENCHMARKS.md (KEY is an API key with the `decide` scope).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
local i = 0
request = function()
  i = (i + 1) % 10000
  local body = '{"subject":"s' .. i .. '","purpose":"marketing","data_category":"email-address"}'
  return wrk.format(nil, "/v1/decisions", nil, body)
end

-- wrk script for `scripts/bench rest`: each request creates a new post (a different body
-- each time) with the bench account's token. TOKEN comes from the environment.
local counter = 0
local token = os.getenv("KAIRAN_BENCH_TOKEN")
request = function()
  counter = counter + 1
  local body = '{"body":"ベンチマーク投稿 ' .. counter .. ' (' .. tostring(math.random(1, 1000000000)) .. ')"}'
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
end

-- wrk script for `scripts/bench rest`: each request creates a new post in one of many
-- threads (each in its own group), picked at random: post creation without every request
-- waiting for the same thread's and group's rows. KAIRAN_BENCH_TOKEN and
-- KAIRAN_BENCH_THREADS (comma-separated thread ids) come from the environment.
local token = os.getenv("KAIRAN_BENCH_TOKEN")
local threads = {}
for id in string.gmatch(os.getenv("KAIRAN_BENCH_THREADS"), "%d+") do threads[#threads + 1] = id end
local counter = 0
request = function()
  counter = counter + 1
  local thread = threads[math.random(1, #threads)]
  local body = '{"body":"ベンチマーク投稿 ' .. counter .. ' (' .. tostring(math.random(1, 1000000000)) .. ')"}'
  return wrk.format("POST", "/v1/threads/" .. thread .. "/posts",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
end

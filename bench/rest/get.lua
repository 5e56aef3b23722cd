-- wrk script for `scripts/bench rest`: authenticated GETs (a thread page) with the bench
-- account's token. TOKEN comes from the environment.
local token = os.getenv("KAIRAN_BENCH_TOKEN")
wrk.headers["Authorization"] = "Bearer " .. token

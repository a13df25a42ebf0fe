-- wrk request generator for GET /convert (bench/load.py passes the arguments).
--
--   wrk ... -s bench/lua/convert.lua URL -- MODE PAIRS [OLDEST_MS NEWEST_MS]
--
-- MODE latest      amount, from, to drawn from PAIRS; no timestamp
-- MODE historical  the same plus timestamp=unix seconds with ms, uniform over
--                  [OLDEST_MS, NEWEST_MS], so almost every request reads
--                  another snapshot file (the API caches 256 of 20,160)
-- PAIRS            "FROM:TO,FROM:TO,..." (case as sent, e.g. "btc:usdt")
--
-- done() prints one machine-readable line; percentiles are in microseconds.

local mode, pairs, oldest, span
local amounts = { "1", "0.5", "2.25", "123.456789", "1000", "0.000123" }

function init(args)
  mode = args[1]
  pairs = {}
  for from, to in string.gmatch(args[2], "([%w]+):([%w]+)") do
    pairs[#pairs + 1] = "&from=" .. from .. "&to=" .. to
  end
  if mode == "historical" then
    oldest = tonumber(args[3])
    span = tonumber(args[4]) - oldest
  end
  -- Deterministic per thread: the same run draws the same requests.
  math.randomseed(20230310 + (tonumber(wrk.thread and wrk.thread.id or 0) or 0))
end

function request()
  local path = "/convert?amount=" .. amounts[math.random(#amounts)] .. pairs[math.random(#pairs)]
  if mode == "historical" then
    local at = oldest + math.floor(math.random() * span)
    path = path .. string.format("&timestamp=%d.%03d", math.floor(at / 1000), at % 1000)
  end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status_errors=%d socket_errors=%d "
      .. "p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end

-- wrk request generator for GET /rates (bench/load.py passes the arguments).
--
--   wrk ... -s bench/lua/rates.lua URL -- SPAN_S INTERVAL PAIRS [EXCHANGE]
--
-- Each request asks a pair drawn from PAIRS ("FROM:TO,FROM:TO,...") for the
-- SPAN_S seconds up to now (start = now - SPAN_S, end left to its default,
-- now) at INTERVAL, on EXCHANGE when given (else DEFAULT_EXCHANGE): what a
-- chart of the last 24 h or 7 days asks.
--
-- done() prints one machine-readable line; percentiles are in microseconds.

local span, interval, pairs, exchange

function init(args)
  span = tonumber(args[1])
  interval = args[2]
  pairs = {}
  for from, to in string.gmatch(args[3], "([%w]+):([%w]+)") do
    pairs[#pairs + 1] = "from=" .. from .. "&to=" .. to
  end
  exchange = args[4] and ("&exchange=" .. args[4]) or ""
  math.randomseed(20230310 + (tonumber(wrk.thread and wrk.thread.id or 0) or 0))
end

function request()
  local start = os.time() - span
  local path = "/rates?" .. pairs[math.random(#pairs)] .. "&interval=" .. interval
    .. "&start=" .. start .. exchange
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

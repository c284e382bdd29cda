-- Shared by the wrk scripts: counts answers by status across threads and prints one
-- machine-readable line in done():
--   BENCH name=... requests=... rps=... mean_ms=... p50_ms=... p99_ms=... statuses=401:812,503:3
-- With BENCH_COUNT_CODES=1 an error answer is counted by status and its error code
-- ({"error": {"code": ...}}), e.g. statuses=401/invalid_code:812,401/too_many_attempts:3.
local threads = {}
counts = {}  -- global: done() reads it from each thread with thread:get
local count_codes = os.getenv("BENCH_COUNT_CODES") == "1"

function setup(thread)
   table.insert(threads, thread)
end

function response(status, headers, body)
   local key = status
   if count_codes and status >= 400 and body then
      local code = body:match('"code"%s*:%s*"([%w_]+)"')
      if code then key = status .. "/" .. code end
   end
   counts[key] = (counts[key] or 0) + 1
end

function report_done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      local c = thread:get("counts")
      for status, n in pairs(c) do merged[status] = (merged[status] or 0) + n end
   end
   local keys = {}
   for status in pairs(merged) do table.insert(keys, status) end
   table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
   local parts = {}
   for _, status in ipairs(keys) do table.insert(parts, status .. ":" .. merged[status]) end
   local seconds = summary.duration / 1e6
   io.write(string.format("BENCH name=%s requests=%d rps=%.1f mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f errors=%d statuses=%s\n",
      os.getenv("BENCH_NAME") or "run", summary.requests, summary.requests / seconds, latency.mean / 1000,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
      table.concat(parts, ",")))
end

function done(summary, latency, requests)
   report_done(summary, latency, requests)
end

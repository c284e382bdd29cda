-- POST /v1/auth/login with a JSON body. BENCH_EMAIL, BENCH_PASSWORD and BENCH_CLIENT
-- choose the case (a known address with a wrong password, or an unknown address).
package.path = (os.getenv("BENCH_DIR") or "bench") .. "/?.lua;" .. package.path
require("report")

local function json_string(s)
   return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

wrk.method = "POST"
wrk.path = "/v1/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "tollgate-bench/wrk"
wrk.body = "{" ..
   '"email":' .. json_string(os.getenv("BENCH_EMAIL") or "nobody@bench.invalid") .. "," ..
   '"password":' .. json_string(os.getenv("BENCH_PASSWORD") or "not-the-password") .. "," ..
   '"client":' .. json_string(os.getenv("BENCH_CLIENT") or "dashboard") .. "}"

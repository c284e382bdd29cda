-- POST /v1/auth/login/verify: the code-check hot path. BENCH_CHALLENGE_TOKEN is a login
-- challenge's token (bench/verify.sh makes one); BENCH_CODE the code to send (a wrong one
-- by default, so that every request exercises the lookup, the counters and the refusal).
package.path = (os.getenv("BENCH_DIR") or "bench") .. "/?.lua;" .. package.path
require("report")

local token = os.getenv("BENCH_CHALLENGE_TOKEN")
if not token or token == "" then
   io.stderr:write("verify.lua: set BENCH_CHALLENGE_TOKEN\n")
   os.exit(2)
end

wrk.method = "POST"
wrk.path = "/v1/auth/login/verify"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "tollgate-bench/wrk"
wrk.body = string.format('{"challenge_token":"%s","code":"%s"}', token, os.getenv("BENCH_CODE") or "000000")

-- POST /v1/auth/login/verify: the code-check hot path. BENCH_CHALLENGE_TOKEN is a login
-- challenge's token (bench/verify.sh makes one); BENCH_CODE the code to send (a wrong one
-- by default, so that every request exercises the lookup, the counters and the refusal).
-- With BENCH_TOKENS_FILE (one token a line) the requests take the tokens in turn instead,
-- each thread from its own starting point, so that many challenges share the load.
-- BENCH_PATH sends the body elsewhere (/v1/auth/login/challenge, the poll, with BENCH_CODE
-- empty: then the body has the token only).
package.path = (os.getenv("BENCH_DIR") or "bench") .. "/?.lua;" .. package.path
require("report")

local code = os.getenv("BENCH_CODE") or "000000"
local tokens_file = os.getenv("BENCH_TOKENS_FILE")
local token = os.getenv("BENCH_CHALLENGE_TOKEN")
if (not tokens_file or tokens_file == "") and (not token or token == "") then
   io.stderr:write("verify.lua: set BENCH_CHALLENGE_TOKEN or BENCH_TOKENS_FILE\n")
   os.exit(2)
end

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/auth/login/verify"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "tollgate-bench/wrk"

local function body_for(t)
   if code == "" then return string.format('{"challenge_token":"%s"}', t) end
   return string.format('{"challenge_token":"%s","code":"%s"}', t, code)
end

if tokens_file and tokens_file ~= "" then
   local bodies = {}
   for line in io.lines(tokens_file) do
      if line ~= "" then table.insert(bodies, body_for(line)) end
   end
   if #bodies == 0 then
      io.stderr:write("verify.lua: no tokens in " .. tokens_file .. "\n")
      os.exit(2)
   end
   local next_index = 1
   local thread_count = 0

   local base_setup = setup
   function setup(thread)
      thread_count = thread_count + 1
      thread:set("start_index", thread_count * 7919)
      base_setup(thread)
   end

   function init(args)
      next_index = (start_index or 0) % #bodies + 1
   end

   function request()
      local body = bodies[next_index]
      next_index = next_index % #bodies + 1
      return wrk.format(nil, nil, nil, body)
   end
else
   wrk.body = body_for(token)
end

-- A plain GET (the baseline), with the shared status counts and BENCH line.
package.path = (os.getenv("BENCH_DIR") or "bench") .. "/?.lua;" .. package.path
require("report")

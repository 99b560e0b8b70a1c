-- kv_read_random.lua - KV v2 reads spread uniformly over many secrets, so a
-- large vault is measured through its storage and indexes, not through the
-- one hot entry that kv_read.lua keeps in every cache.
--   GET /v1/$BENCH_KV_MOUNT/data/<a random line of $BENCH_KV_PATHS_FILE>
-- BENCH_KV_PATHS_FILE holds one path inside the mount per line (f3/k004567);
-- BENCH_KV_MOUNT defaults to secret. Needs BENCH_TOKEN and BENCH_SHARED_WRK
-- (the shared wrk scripts' directory, for common.lua).
package.path = (os.getenv("BENCH_SHARED_WRK") or ".") .. "/?.lua;" .. package.path
-- random_lines.lua is ours, beside this script.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")
local lines = require("random_lines")
c.name = "kv_read_random"

local MARK = "@@KEY@@"
local paths, head, tail
local n = 0
-- a global, so done() (which runs outside the threads) can read it
loaded = 0

function setup(thread) c.setup(thread) end
function init(args)
  -- Loaded once per wrk thread (each thread has its own Lua state).
  paths = lines.load("BENCH_KV_PATHS_FILE", function(line) return "bad path " .. c.jstr(line) end)
  n = #paths
  loaded = n
  -- wrk.format once, split at a marker: the per-request cost is one
  -- concatenation, close to kv_read.lua's prebuilt request, so the load
  -- generator's CPU stays comparable between the two scripts.
  head, tail = lines.split(wrk.format("GET", string.format("/v1/%s/data/%s", c.env("BENCH_KV_MOUNT", "secret"), MARK),
    c.headers(true, false)), MARK)
  lines.seed()
end
function request()
  return head .. paths[math.random(1, n)] .. tail
end
function done(summary, latency, requests) c.done(summary, latency, { keys = c.max_thread_global("loaded") or 0 }) end

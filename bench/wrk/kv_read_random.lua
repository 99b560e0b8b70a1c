-- kv_read_random.lua - KV v2 reads spread uniformly over many secrets, so a
-- large vault is measured through its storage and indexes, not through the
-- one hot entry that kv_read.lua keeps in every cache.
--   GET /v1/$BENCH_KV_MOUNT/data/<a random line of $BENCH_KV_PATHS_FILE>
-- BENCH_KV_PATHS_FILE holds one path inside the mount per line (f3/k004567);
-- BENCH_KV_MOUNT defaults to secret. Needs BENCH_TOKEN and BENCH_SHARED_WRK
-- (the shared wrk scripts' directory, for common.lua).
package.path = (os.getenv("BENCH_SHARED_WRK") or ".") .. "/?.lua;" .. package.path
local c = require("common")
c.name = "kv_read_random"

local MARK = "@@KEY@@"
local paths, head, tail
local n = 0
-- a global, so done() (which runs outside the threads) can read it
loaded = 0

local function read_paths(file)
  local f = assert(io.open(file, "r"))
  local t = {}
  for line in f:lines() do
    line = line:gsub("%s+$", "")
    -- A path goes into the request line as it is: refuse what would break it.
    if line:find("[%s%c]") then error("BENCH_KV_PATHS_FILE: bad path " .. c.jstr(line)) end
    if line ~= "" then t[#t + 1] = line end
  end
  f:close()
  if #t == 0 then error("BENCH_KV_PATHS_FILE is empty: " .. file) end
  return t
end

function setup(thread) c.setup(thread) end
function init(args)
  -- Loaded once per wrk thread (each thread has its own Lua state).
  paths = read_paths(c.env("BENCH_KV_PATHS_FILE"))
  n = #paths
  loaded = n
  -- wrk.format once, split at a marker: the per-request cost is one
  -- concatenation, close to kv_read.lua's prebuilt request, so the load
  -- generator's CPU stays comparable between the two scripts.
  local tmpl = wrk.format("GET", string.format("/v1/%s/data/%s", c.env("BENCH_KV_MOUNT", "secret"), MARK),
    c.headers(true, false))
  local s, e = tmpl:find(MARK, 1, true)
  head, tail = tmpl:sub(1, s - 1), tmpl:sub(e + 1)
  -- Each thread its own sequence (tid is set by setup before init), and a
  -- new one for every run, so a measured run does not replay the keys its
  -- warm-up just brought into the caches.
  math.randomseed((math.floor(c.now_us()) + tid * 1000003) % 2147483647)
end
function request()
  return head .. paths[math.random(1, n)] .. tail
end
function done(summary, latency, requests) c.done(summary, latency, { keys = c.max_thread_global("loaded") or 0 }) end

-- token_lookup_random.lua - token look-ups spread uniformly over many
-- tokens, so a large token store is measured through its storage and
-- indexes, not through the one token that token_lookup_self.lua keeps hot.
--   GET /v1/auth/token/lookup-self   with X-Vault-Token = a random line of
--   $BENCH_TOKENS_FILE (one token per line)
-- BENCH_TOKEN_HEADER as common.lua (default X-Vault-Token). Needs
-- BENCH_SHARED_WRK (the shared wrk scripts' directory, for common.lua).
package.path = (os.getenv("BENCH_SHARED_WRK") or ".") .. "/?.lua;" .. package.path
local c = require("common")
c.name = "token_lookup_random"

local MARK = "@@TOKEN@@"
local tokens, head, tail
local n = 0
-- a global, so done() (which runs outside the threads) can read it
loaded = 0

local function read_tokens(file)
  local f = assert(io.open(file, "r"))
  local t = {}
  for line in f:lines() do
    line = line:gsub("%s+$", "")
    -- A token goes into a header as it is: refuse what would break it (and
    -- never print it).
    if line:find("[%s%c]") then error("BENCH_TOKENS_FILE: a line holds whitespace or control characters") end
    if line ~= "" then t[#t + 1] = line end
  end
  f:close()
  if #t == 0 then error("BENCH_TOKENS_FILE is empty: " .. file) end
  return t
end

function setup(thread) c.setup(thread) end
function init(args)
  -- Loaded once per wrk thread (each thread has its own Lua state).
  tokens = read_tokens(c.env("BENCH_TOKENS_FILE"))
  n = #tokens
  loaded = n
  -- wrk.format once, split at a marker in the token header: one
  -- concatenation per request.
  local tmpl = wrk.format("GET", "/v1/auth/token/lookup-self",
    { [c.env("BENCH_TOKEN_HEADER", "X-Vault-Token")] = MARK })
  local s, e = tmpl:find(MARK, 1, true)
  head, tail = tmpl:sub(1, s - 1), tmpl:sub(e + 1)
  -- Each thread its own sequence, and a new one for every run (see
  -- kv_read_random.lua).
  math.randomseed((math.floor(c.now_us()) + tid * 1000003) % 2147483647)
end
function request()
  return head .. tokens[math.random(1, n)] .. tail
end
function done(summary, latency, requests) c.done(summary, latency, { tokens = c.max_thread_global("loaded") or 0 }) end

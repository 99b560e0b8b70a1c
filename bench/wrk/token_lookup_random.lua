-- token_lookup_random.lua - token look-ups spread uniformly over many
-- tokens, so a large token store is measured through its storage and
-- indexes, not through the one token that token_lookup_self.lua keeps hot.
--   GET /v1/auth/token/lookup-self   with X-Vault-Token = a random line of
--   $BENCH_TOKENS_FILE (one token per line)
-- BENCH_TOKEN_HEADER as common.lua (default X-Vault-Token). Needs
-- BENCH_SHARED_WRK (the shared wrk scripts' directory, for common.lua).
package.path = (os.getenv("BENCH_SHARED_WRK") or ".") .. "/?.lua;" .. package.path
-- random_lines.lua is ours, beside this script.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")
local lines = require("random_lines")
c.name = "token_lookup_random"

local MARK = "@@TOKEN@@"
local tokens, head, tail
local n = 0
-- a global, so done() (which runs outside the threads) can read it
loaded = 0

function setup(thread) c.setup(thread) end
function init(args)
  -- Loaded once per wrk thread (each thread has its own Lua state).
  tokens = lines.load("BENCH_TOKENS_FILE", function() return "a line holds whitespace or control characters" end)
  n = #tokens
  loaded = n
  -- wrk.format once, split at a marker in the token header: one
  -- concatenation per request.
  head, tail = lines.split(wrk.format("GET", "/v1/auth/token/lookup-self",
    { [c.env("BENCH_TOKEN_HEADER", "X-Vault-Token")] = MARK }), MARK)
  lines.seed()
end
function request()
  return head .. tokens[math.random(1, n)] .. tail
end
function done(summary, latency, requests) c.done(summary, latency, { tokens = c.max_thread_global("loaded") or 0 }) end

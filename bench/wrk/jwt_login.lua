-- jwt_login.lua - JWT auth login (a CI job or a Kubernetes workload's
-- login), each request verifies an ES256 signature against the mount's
-- local keys, resolves the entity and mints a new token.
--   POST /v1/auth/$BENCH_JWT_MOUNT/login  {"role":"bench","jwt":...}
-- Needs BENCH_JWT (bench/jwt.sh makes it) and BENCH_SHARED_WRK (the shared
-- wrk scripts' directory, for common.lua).
package.path = (os.getenv("BENCH_SHARED_WRK") or ".") .. "/?.lua;" .. package.path
local c = require("common")
c.name = "jwt_login"

local req
function setup(thread) c.setup(thread) end
function init(args)
  local body = '{"role":"bench","jwt":' .. c.jstr(c.env("BENCH_JWT")) .. '}'
  req = wrk.format("POST", "/v1/auth/" .. c.env("BENCH_JWT_MOUNT", "jwt") .. "/login", c.headers(false, true), body)
end
function request() return req end
function done(summary, latency, requests) c.done(summary, latency) end

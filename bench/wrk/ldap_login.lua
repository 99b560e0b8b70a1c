-- ldap_login.lua - LDAP auth login: each request searches the directory for
-- the user with the vault's search bind, binds as the user, searches their
-- groups (nested ones too), resolves the entity and mints a new token.
--   POST /v1/auth/ldap/login/$BENCH_LDAP_USER  {"password":...}
-- Needs BENCH_LDAP_USER, BENCH_LDAP_PASSWORD and BENCH_SHARED_WRK (the shared
-- wrk scripts' directory, for common.lua).
package.path = (os.getenv("BENCH_SHARED_WRK") or ".") .. "/?.lua;" .. package.path
local c = require("common")
c.name = "ldap_login"

local req
function setup(thread) c.setup(thread) end
function init(args)
  local body = '{"password":' .. c.jstr(c.env("BENCH_LDAP_PASSWORD")) .. '}'
  req = wrk.format("POST", "/v1/auth/ldap/login/" .. c.env("BENCH_LDAP_USER"), c.headers(false, true), body)
end
function request() return req end
function done(summary, latency, requests) c.done(summary, latency) end

-- random_lines.lua - what the *_random wrk scripts share: a file of keys
-- (KV paths, tokens), one per line, loaded into a table, and a request
-- built once by wrk.format with a marker where the key goes, split around
-- it, so that each request costs one concatenation. Required after
-- common.lua is on package.path (it uses common's env and clock).
local c = require("common")

local M = {}

-- The non-empty lines of the file named by environment variable VAR,
-- trailing whitespace dropped. A key goes into the request as it is, so a
-- line holding whitespace or a control character is refused; bad(line)
-- says so in the error (a token's message must not print the token).
function M.load(var, bad)
  local file = c.env(var)
  local f = assert(io.open(file, "r"))
  local t = {}
  for line in f:lines() do
    line = line:gsub("%s+$", "")
    if line:find("[%s%c]") then error(var .. ": " .. bad(line)) end
    if line ~= "" then t[#t + 1] = line end
  end
  f:close()
  if #t == 0 then error(var .. " is empty: " .. file) end
  return t
end

-- A formatted request's text before and after MARK.
function M.split(tmpl, mark)
  local s, e = tmpl:find(mark, 1, true)
  return tmpl:sub(1, s - 1), tmpl:sub(e + 1)
end

-- Each thread its own sequence (tid is set by common.setup before init),
-- and a new one for every run, so a measured run does not replay the keys
-- its warm-up just brought into the caches.
function M.seed()
  math.randomseed((math.floor(c.now_us()) + tid * 1000003) % 2147483647)
end

return M

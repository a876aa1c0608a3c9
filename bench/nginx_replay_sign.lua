-- Pre-signed callbacks for bench/nginx_replay.sh: N distinct callbacks (one
-- message session, N sequences), each written as a whole raw HTTP request
-- for PATH, length-prefixed ("<bytes>\n<request>"), to OUT. wrk replays
-- them through bench/nginx_replay_wrk.lua, so every request is a fresh
-- callback that verify_callback accepts and records.
--   luajit bench/nginx_replay_sign.lua KEY_HEX HOST:PORT PATH N OUT
local ws = require "walletsign"

local key_hex, hostport, path, n, out = arg[1], arg[2], arg[3], tonumber(arg[4]), arg[5]
assert(key_hex and hostport and path and n and out, "usage: KEY_HEX HOST:PORT PATH N OUT")
local auth = assert(ws.message_auth{key = assert(ws.key.from_hex(key_hex))})
local body = '{"type":"deposit_status","data":{"address":"0x8F9092CE573e41d72378Cf8c9d3335584e6843F1","amount":"1.5"}}'

local f = assert(io.open(out, "wb"))
for _ = 1, n do
   local h = assert(auth:sign("POST", path, body))
   local parts = {"POST ", path, " HTTP/1.1\r\nHost: ", hostport, "\r\nContent-Type: application/json\r\n"}
   for name, value in pairs(h) do parts[#parts + 1] = name .. ": " .. value .. "\r\n" end
   parts[#parts + 1] = "Content-Length: " .. #body .. "\r\n\r\n" .. body
   local req = table.concat(parts)
   f:write(#req, "\n", req)
end
f:close()

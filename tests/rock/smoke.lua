-- Run by scripts/test-rock.sh against a tree that `luarocks install` filled
-- from the source rock: LUA_PATH/LUA_CPATH name only that tree, so this
-- proves the installed rock works alone. Usage: LUA smoke.lua TREE LUAVERSION
-- Prints "ok - ..." lines; any failure raises (non-zero exit).
local tree, luaver = assert(arg[1], "tree"), assert(arg[2], "lua version")

local function from_tree(name, file)
   assert(file, name .. " not found")
   assert(file:sub(1, #tree + 1) == tree .. "/", name .. " loaded from " .. file .. ", not from " .. tree)
   print("ok - " .. name .. " from " .. file)
end
from_tree("walletsign", package.searchpath("walletsign", package.path))
from_tree("walletsign.nginx", package.searchpath("walletsign.nginx", package.path))
from_tree("walletsign.core", package.searchpath("walletsign.core", package.cpath))
assert(package.searchpath("walletsign.core", package.cpath):find("/lib/lua/" .. luaver .. "/", 1, true))

local ws = require "walletsign"
local key = assert(ws.key.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"))
-- The address of this key, as Ethereum's own tools give it.
assert(key:address():lower() == "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", key:address())
print("ok - key address")

local body = '{"chain_type":"ETH","chain_id":"1"}'
local headers = assert(ws.message_auth{key = key}):sign("POST", "/access/get_address", body)
local verifier = assert(ws.message_verifier{trusted = {key:address()}})
local sender = assert(verifier:verify(headers, body))
assert(sender.address:lower() == key:address():lower(), sender.address)
print("ok - a signed message verifies")

local again, err = assert(ws.message_verifier{trusted = {key:address()}}):verify(headers, body .. " ")
assert(again == nil and err.kind == "invalid" and err.reason == "bad_signature", tostring(err))
print("ok - a tampered body is refused: " .. err.reason)

-- tests/vectors/options.json, the contract the C, Python and CLI suites
-- check too: each option name does what its value does, refused spellings
-- raise, and each numeric setting takes exactly its range.
local spec_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = spec_dir .. "/?.lua;" .. package.path
local H = require "helpers"
local ws = require "walletsign"

local doc = H.vectors("options.json")
local P256 = assert(ws.key.generate("P-256"))
local SECP = assert(ws.key.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"))
local TOKEN = assert(assert(ws.jwt_auth{key = P256, key_id = "kid"}):token("/query", ""))

-- Use an option through the Lua API; return what it produced.
local function use(option, name)
   if option == "jwt_format" then
      local t = assert(assert(ws.jwt_auth{key = P256, key_id = "k", signature_format = name}):token("/q", ""))
      return tostring(#t:match("[^.]+$") == 86) -- raw r||s: 64 bytes
   elseif option == "hmac_encoding" then
      local a = assert(ws.hmac_auth{api_key = "k", secret = "s", encoding = name})
      return assert(a:sign("GET", "/", "", {timestamp = 1}))["x-signature"]
   elseif option == "digest" or option == "message_encoding" or option == "empty_body" then
      local field = ({digest = "digest", message_encoding = "encoding", empty_body = "empty_body"})[option]
      local a = assert(ws.message_auth{key = SECP, [field] = name})
      local body = option == "empty_body" and "" or "x"
      return assert(a:_sign_fixed("1", "1", body, 1))["X-Message-Signature"]
   elseif option == "key_kind" then
      if name:lower() == "rsa" then return "RSA" end
      return assert(ws.key.generate(name)):kind()
   end
   error("options.json names an option this spec does not know: " .. option)
end

describe("options.json names", function()
   for _, o in ipairs(doc.options) do
      it(o.option, function()
         local by_value, distinct = {}, {}
         local function add(name, value)
            local got = use(o.option, name)
            assert.equals(by_value[value] or got, got, o.option .. " " .. name)
            by_value[value] = got
         end
         for name, value in pairs(o.names) do add(name, value) end
         for name, value in pairs(o.also_accepted) do add(name, value) end
         for _, got in pairs(by_value) do
            assert.is_nil(distinct[got], o.option .. ": two values do the same")
            distinct[got] = true
         end
         for _, name in ipairs(o.refused) do
            assert.has_error(function() use(o.option, name) end)
         end
      end)
   end
end)

-- client.* settings: the option of ws.client each one is (a client needs no server).
local CLIENT = {timeout = "timeout", attempt_timeout = "attempt_timeout",
                connect_timeout = "connect_timeout", retries = "retries",
                max_429_attempts = "max_429_attempts", max_retry_after = "max_retry_after",
                backoff = "backoff", max_response = "max_response"}

local function try_client(setting, v)
   local name = setting:match("^client%.(.*)")
   local opts = {base_url = "http://127.0.0.1:1", auth = assert(ws.hmac_auth{api_key = "k", secret = "s"})}
   if name == "rate" then
      opts.rate_limit = {v, 10}
   elseif name == "burst" then
      opts.rate_limit = {10, v}
   elseif CLIENT[name] then
      opts[CLIENT[name]] = v
   else
      error("options.json names a setting this spec does not know: " .. setting)
   end
   local c, err = ws.client(opts)
   if c then c:close() end
   return c, err
end

-- Make what a setting belongs to; true, or nil and the error.
local function try(setting, v)
   if setting:match("^client%.") then
      return try_client(setting, v)
   elseif setting == "jwt.ttl" then
      return ws.jwt_auth{key = P256, key_id = "k", ttl = v}
   elseif setting == "jwt.leeway" or setting == "jwt.max_ttl" then
      local c, err = ws.verify_jwt(TOKEN, P256, {[setting:match("%.(.*)")] = v})
      if not c and err.kind == "invalid" then return true end -- options taken
      return c, err
   elseif setting == "hmac.window_ms" then
      return ws.hmac_verifier{secrets = {k = "s"}, window_ms = v}
   elseif setting == "hmac.cache_size" then
      return ws.hmac_verifier{secrets = {k = "s"}, replay_cache = true, cache_size = v}
   elseif setting == "message.window_ms" then
      return ws.message_verifier{trusted = {}, window_ms = v}
   elseif setting == "message.cache_size" then
      return ws.message_verifier{trusted = {}, cache_size = v}
   elseif setting == "key.rsa_bits" then
      return ws.key.generate("RSA-" .. v)
   end
   error("options.json names a setting this spec does not know: " .. setting)
end

local function refused(setting, v)
   local ok, err = try(setting, v)
   assert.is_nil(ok, setting .. " = " .. v .. " was taken")
   assert.equals("argument_error", err.kind, setting .. " = " .. v)
end

describe("time arguments", function()
   it("refuses a negative now (0 is the clock)", function()
      local c, err = ws.verify_jwt(TOKEN, P256, {now = -5})
      assert.is_nil(c)
      assert.equals("argument_error", err.kind)
   end)
end)

describe("options.json ranges", function()
   for _, r in ipairs(doc.ranges) do
      it(r.setting, function()
         local rsa = r.setting == "key.rsa_bits"
         if not rsa then
            assert(try(r.setting, r.min))
            if r.zero_is_default then assert(try(r.setting, 0)) end
         end
         if not r.slow then assert(try(r.setting, r.max)) end
         if r.off then
            assert(try(r.setting, r.off))
         elseif not (r.zero_is_default and r.min - 1 == 0) then
            refused(r.setting, r.min - 1)
         end
         refused(r.setting, r.max + 1)
         for _, v in ipairs(r.refused or {}) do refused(r.setting, v) end
      end)
   end
end)

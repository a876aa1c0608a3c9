-- The Lua API itself: keys, auth objects, verifiers, errors, JSON
-- conversion, handle lifetimes. Protocol bytes are in vectors_spec.lua.
local spec_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = spec_dir .. "/?.lua;" .. package.path
local H = require "helpers"
local ws = require "walletsign"

local KNOWN_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
local KNOWN_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
local LUA54 = _VERSION == "Lua 5.4"

local function tmpname()
   local path = os.tmpname()
   os.remove(path)
   return path
end

describe("keys", function()
   local p256 = assert(ws.key.generate("P-256"))
   local k1 = assert(ws.key.generate("secp256k1"))

   it("generates each kind", function()
      assert.equals("P-256", p256:kind())
      assert.equals("ES256", p256:algorithm())
      assert.equals(256, p256:bits())
      assert.is_true(p256:is_private())
      assert.equals("secp256k1", k1:kind())
      assert.equals("ES256K", k1:algorithm())
      assert.matches("^0x%x+$", k1:address())
      local rsa = assert(ws.key.generate("RSA-2048"))
      assert.equals("RSA", rsa:kind())
      assert.equals("RS256", rsa:algorithm())
      assert.equals(2048, rsa:bits())
   end)

   it("raises on an unknown kind, returns nil, err on a bad size", function()
      assert.has_error(function() ws.key.generate("P-384") end)
      assert.has_error(function() ws.key.generate(42) end)
      local key, err = ws.key.generate("RSA-1024")
      assert.is_nil(key)
      assert.equals("argument_error", err.kind)
   end)

   it("round-trips PEM, with and without a password", function()
      local pem = assert(p256:private_pem())
      assert.matches("^%-%-%-%-%-BEGIN PRIVATE KEY%-%-%-%-%-", pem)
      local again = assert(ws.key.load(pem))
      assert.equals(p256:public_pem(), again:public_pem())
      local enc = assert(p256:private_pem("s3cret pass"))
      assert.matches("ENCRYPTED PRIVATE KEY", enc)
      assert.equals(p256:public_pem(), assert(ws.key.load(enc, "s3cret pass")):public_pem())
      assert.equals(p256:public_pem(), assert(ws.key.load_pem(enc, "s3cret pass")):public_pem())
      local pub = assert(ws.key.load(p256:public_pem()))
      assert.is_false(pub:is_private())
   end)

   it("saves with mode 0600 and loads from the path", function()
      local path = tmpname()
      assert.is_true(k1:save(path, "pw"))
      local mode = io.popen("stat -c %a " .. path):read("*l")
      assert.equals("600", mode)
      assert.equals(k1:address(), assert(ws.key.load(path, "pw")):address())
      assert.equals(k1:address(), assert(ws.key.load_file(path, "pw")):address())
      os.remove(path)
      local ok, err = k1:save("/nonexistent-dir/key.pem")
      assert.is_nil(ok)
      assert.equals("io_error", err.kind)
   end)

   it("loads DER bytes", function()
      local der = H.read_file(H.keys_dir .. "/p256.der")
      local key = assert(ws.key.load(der))
      assert.equals("P-256", key:kind())
      assert.equals(key:public_pem(), assert(ws.key.load_der(der)):public_pem())
   end)

   it("makes CSRs for jwt keys only", function()
      local csr = assert(p256:csr("/C=MY/O=Example/CN=example.com"))
      assert.matches("BEGIN CERTIFICATE REQUEST", csr)
      local none, err = k1:csr("/CN=x")
      assert.is_nil(none)
      assert.equals("key_error", err.kind)
   end)

   it("has an address only for secp256k1", function()
      assert.equals(KNOWN_ADDRESS, assert(ws.key.from_hex(KNOWN_HEX)):address())
      local none, err = p256:address()
      assert.is_nil(none)
      assert.is_true(ws.is_error(err))
      local bad, herr = ws.key.from_hex("zz")
      assert.is_nil(bad)
      assert.equals("key_error", herr.kind)
   end)

   it("never shows key material in tostring", function()
      local s = tostring(assert(ws.key.from_hex(KNOWN_HEX)))
      assert.matches("^walletsign.Key", s)
      assert.is_nil(s:find(KNOWN_HEX:sub(1, 16), 1, true))
   end)
end)

describe("signing", function()
   local k1 = assert(ws.key.from_hex(KNOWN_HEX))

   it("numbers messages within one session", function()
      local auth = assert(ws.message_auth{key = k1})
      local h1 = assert(auth:sign("POST", "/access/get_address", "{}"))
      local h2 = assert(auth:sign("POST", "/access/get_address", "{}"))
      assert.equals(h1["X-Message-Session"], h2["X-Message-Session"])
      assert.equals(auth:session(), h1["X-Message-Session"])
      assert.equals("1", h1["X-Message-Sequence"])
      assert.equals("2", h2["X-Message-Sequence"])
      assert.equals(KNOWN_ADDRESS, auth:address())
      assert.equals("message", auth:kind())
      local h3 = assert(auth:sign("GET", "/x", nil, {timestamp = 1730998051892}))
      assert.equals("1730998051892", h3["X-Message-Timestamp"])
   end)

   it("carries 64-bit session and sequence ids exactly", function()
      local auth = assert(ws.message_auth{key = k1})
      local h = assert(auth:_sign_fixed("18446744073709551615", "9007199254740993", "", 1730998051892))
      assert.equals("18446744073709551615", h["X-Message-Session"])
      assert.equals("9007199254740993", h["X-Message-Sequence"])
      local v = assert(ws.message_verifier{trusted = {KNOWN_ADDRESS}})
      local m = assert(v:verify(h, "", {now = 1730998051892}))
      assert.equals("18446744073709551615", m.session)
      assert.equals("9007199254740993", m.sequence)
      assert.has_error(function() auth:_sign_fixed("18446744073709551616", "1", "", 1) end)
      assert.has_error(function() auth:_sign_fixed("-1", "1", "", 1) end)
   end)

   it("keeps the key alive for the auth (GC order)", function()
      local auth
      do
         local key = assert(ws.key.generate("P-256"))
         auth = assert(ws.jwt_auth{key = key, key_id = "gc-test"})
      end
      collectgarbage()
      collectgarbage()
      local h = assert(auth:sign("POST", "/query", "{}"))
      assert.matches("^Bearer ", h.Authorization)
   end)

   it("still signs after the key is closed (the core counts references)", function()
      local key = assert(ws.key.generate("secp256k1"))
      local auth = assert(ws.message_auth{key = key})
      key:close()
      assert(auth:sign("POST", "/x", "{}"))
      assert.has_error(function() key:address() end, "attempt to use a closed walletsign.Key")
   end)

   it("signs hmac with custom header names", function()
      local auth = assert(ws.hmac_auth{api_key = "k", secret = "s", encoding = "hex", separator = ":",
                                       api_key_header = "X-Key", signature_header = "X-Sig",
                                       timestamp_header = "X-Ts"})
      local h = assert(auth:sign("get", "/p?q=1", "", {timestamp = 1}))
      assert.equals("k", h["X-Key"])
      assert.equals("1", h["X-Ts"])
      assert.matches("^%x+$", h["X-Sig"])
      local v = assert(ws.hmac_verifier{secrets = {k = "s"}, encoding = "hex", separator = ":",
                                        api_key_header = "X-Key", signature_header = "X-Sig",
                                        timestamp_header = "X-Ts"})
      assert.equals("k", v:verify("GET", "/p?q=1", h, "", {now = 1}))
      assert.equals("hmac", auth:kind())
   end)

   it("signs jwt with each key type and format", function()
      local p256 = assert(ws.key.generate("P-256"))
      for _, fmt in ipairs{"der", "raw"} do
         local auth = assert(ws.jwt_auth{key = p256, key_id = "kid-" .. fmt, ttl = 30, signature_format = fmt})
         local h = assert(auth:sign("POST", "/command", '{"a":1}'))
         local token = h.Authorization:match("^Bearer (.+)$")
         local claims = assert(ws.verify_jwt(token, p256:public_pem(), {uri = "/command", body = '{"a":1}'}))
         assert.equals("kid-" .. fmt, claims.kid)
         assert.equals("wallet", claims.sub)
         assert.equals(30, claims.exp - claims.iat)
         assert.matches("^%x+$", claims.nonce)
         assert.equals(40, #claims.nonce)
         local _, err = ws.verify_jwt(token, p256, {body = "tampered"})
         assert.equals("request_mismatch", err.reason)
         local _, uerr = ws.verify_jwt(token, p256, {uri = "/query"})
         assert.equals("request_mismatch", uerr.reason)
         local _, eerr = ws.verify_jwt(token, p256, {now = claims.exp})
         assert.equals("expired", eerr.reason)
         assert(ws.verify_jwt(token, p256, {now = claims.exp, leeway = 5}))
      end
      local _, err = ws.verify_jwt("not-a-token", p256)
      assert.equals("malformed", err.reason)
      local _, kerr = ws.verify_jwt("a.b.c", "not a pem")
      assert.equals("key_error", kerr.kind)
   end)

   it("warns about RSA below 4096 bits", function()
      local rsa = assert(ws.key.load(H.keys_dir .. "/rsa2048_pkcs1.pem"))
      local auth, warning = ws.jwt_auth{key = rsa, key_id = "k"}
      assert.truthy(auth)
      assert.is_string(warning)
   end)

   it("raises on wrong argument types and bad options", function()
      local auth = assert(ws.hmac_auth{api_key = "k", secret = "s"})
      assert.has_error(function() auth:sign() end)
      assert.has_error(function() auth:sign("GET", {}) end)
      assert.has_error(function() auth:sign("GET", "/a\0b") end)
      assert.has_error(function() auth:sign("GET", "/", "", {timestamp = "soon"}) end)
      assert.has_error(function() ws.hmac_auth{api_key = "k"} end)
      assert.has_error(function() ws.hmac_auth{api_key = "k", secret = "s", encoding = "base32"} end)
      assert.has_error(function() ws.jwt_auth{key_id = "k"} end)
      assert.has_error(function() ws.jwt_auth{key = "pem", key_id = "k"} end)
      assert.has_error(function() ws.message_auth{key = k1, digest = "md5"} end)
      assert.has_error(function() ws.message_verifier{} end)
      assert.has_error(function() ws.hmac_verifier{secrets = {k = 1}} end)
      assert.has_error(function() auth.sign(k1, "GET", "/") end)
   end)

   it("returns nil, err for what the core refuses", function()
      local auth, err = ws.hmac_auth{api_key = "bad\nkey", secret = "TOP-SECRET-VALUE"}
      assert.is_nil(auth)
      assert.equals("argument_error", err.kind)
      assert.is_nil(tostring(err):find("TOP-SECRET", 1, true))
      local p256 = assert(ws.key.generate("P-256"))
      local m, merr = ws.message_auth{key = p256}
      assert.is_nil(m)
      assert.equals("key_error", merr.kind)
      local v, verr = ws.message_verifier{trusted = {"0x1234"}}
      assert.is_nil(v)
      assert.equals("argument_error", verr.kind)
      local jwt = assert(ws.jwt_auth{key = p256, key_id = "k"})
      local s, serr = jwt:session()
      assert.is_nil(s)
      assert.equals("argument_error", serr.kind)
      local msg = assert(ws.message_auth{key = k1})
      local t, terr = msg:token("/query", "")
      assert.is_nil(t)
      assert.equals("argument_error", terr.kind)
   end)
end)

describe("verifiers", function()
   local k1 = assert(ws.key.from_hex(KNOWN_HEX))
   local auth = assert(ws.message_auth{key = k1})

   it("accept duplicated headers given as lists and many headers", function()
      local h = assert(auth:sign("POST", "/cb", "body"))
      local headers = {}
      for k, v in pairs(h) do headers[k:lower()] = {v} end
      for i = 1, 60 do headers["x-extra-" .. i] = "v" .. i end
      local v = assert(ws.message_verifier{trusted = {KNOWN_ADDRESS:lower()}})
      local m = assert(v:verify(headers, "body"))
      assert.equals(KNOWN_ADDRESS, m.address)
      assert.equals(auth:session(), m.session)
      assert.is_number(m.timestamp)
      assert.equals(60000, v:window_ms())
      assert.is_true(v:replay_cache())
      -- the core's key and lifetime for replay stores outside the verifier
      assert.equals(KNOWN_ADDRESS .. ":" .. m.session .. ":" .. m.sequence, m.replay_key)
      assert.equals(2 * 60000 + 1000, m.replay_ttl_ms)
   end)

   it("can leave replay detection to the caller", function()
      local h = assert(auth:sign("POST", "/cb", "x"))
      local v = assert(ws.message_verifier{trusted = {KNOWN_ADDRESS}, replay_cache = false, window_ms = 5000})
      assert(v:verify(h, "x"))
      assert(v:verify(h, "x"))
      assert.is_false(v:replay_cache())
      assert.equals(5000, v:window_ms())
   end)

   it("reports every rejection as kind invalid with a reason", function()
      local h = assert(auth:sign("POST", "/cb", "x"))
      local v = assert(ws.message_verifier{trusted = {}})
      local m, err = v:verify(h, "x")
      assert.is_nil(m)
      assert.equals("invalid", err.kind)
      assert.equals("untrusted_address", err.reason)
      assert.matches("^walletsign invalid %(untrusted_address%): ", tostring(err))
      local h2 = H.copy(h)
      h2["X-Message-Signature"] = nil
      local _, merr = v:verify(h2, "x")
      assert.equals("missing_header", merr.reason)
      assert.has_error(function() v:verify({["X-Message-Address"] = 5}, "x") end)
   end)

   it("answers malformed_header for a NUL in a header, never reading it cut short", function()
      local h = assert(auth:sign("POST", "/cb", "x"))
      local v = assert(ws.message_verifier{trusted = {KNOWN_ADDRESS}})
      local nuls = {}
      for name, value in pairs(h) do
         local copy = H.copy(h)
         copy[name] = value .. "\0junk"
         nuls[#nuls + 1] = copy
      end
      local listed = H.copy(h)
      listed["X-Message-Session"] = {h["X-Message-Session"] .. "\0"}
      local renamed = H.copy(h)
      renamed["X-Message-Signature"], renamed["X-Message-Signature\0x"] = nil, h["X-Message-Signature"]
      local other = H.copy(h)
      other["X-Other"] = "1\0" .. "2"
      for _, extra in ipairs{listed, renamed, other} do nuls[#nuls + 1] = extra end
      for _, headers in ipairs(nuls) do
         local m, err = v:verify(headers, "x")
         assert.is_nil(m)
         assert.equals("invalid", err.kind)
         assert.equals("malformed_header", err.reason)
      end
      assert(v:verify(h, "x"))
      local a = assert(ws.hmac_auth{api_key = "ak", secret = "sk"})
      local hh = assert(a:sign("POST", "/v1/x", "b", {timestamp = 1000000}))
      local hv = assert(ws.hmac_verifier{secrets = {ak = "sk"}})
      for name, value in pairs(hh) do
         local copy = H.copy(hh)
         copy[name] = value .. "\0junk"
         local key, err = hv:verify("POST", "/v1/x", copy, "b", {now = 1000000})
         assert.is_nil(key)
         assert.equals("malformed_header", err.reason)
      end
      assert.equals("ak", hv:verify("POST", "/v1/x", hh, "b", {now = 1000000}))
   end)

   it("verifies hmac with lower-case names and a clock", function()
      local a = assert(ws.hmac_auth{api_key = "ak", secret = "sk"})
      local h = assert(a:sign("POST", "/v1/x", "b", {timestamp = 1000000}))
      local v = assert(ws.hmac_verifier{secrets = {ak = "sk", other = "zz"}, window_ms = 1000})
      assert.equals("ak", v:verify("POST", "/v1/x", h, "b", {now = 1001000}))
      local _, err = v:verify("POST", "/v1/x", h, "b", {now = 1001001})
      assert.equals("stale_timestamp", err.reason)
      local _, berr = v:verify("POST", "/v1/x", h, "B", {now = 1000000})
      assert.equals("bad_signature", berr.reason)
   end)

   it("refuses repeated hmac requests only with the opt-in replay cache", function()
      local a = assert(ws.hmac_auth{api_key = "ak", secret = "sk"})
      local h = assert(a:sign("POST", "/a", "b|", {timestamp = 1000000}))
      local plain = assert(ws.hmac_verifier{secrets = {ak = "sk"}})
      assert.equals("ak", plain:verify("POST", "/a", h, "b|", {now = 1000000}))
      assert.equals("ak", plain:verify("POST", "/a", h, "b|", {now = 1000000}))
      local guarded = assert(ws.hmac_verifier{secrets = {ak = "sk"}, replay_cache = true,
                                              cache_size = 16})
      assert.equals("ak", guarded:verify("POST", "/a", h, "b|", {now = 1000000}))
      local _, err = guarded:verify("POST", "/a", h, "b|", {now = 1000000})
      assert.equals("replay", err.reason)
      -- the same prehash framed the other way round the separator
      local _, rerr = guarded:verify("POST", "/a|b", h, "", {now = 1000000})
      assert.equals("replay", rerr.reason)
      local _, uerr = plain:verify("POST", "/a", {["x-api-key"] = "nobody", ["x-timestamp"] = h["x-timestamp"],
                                                   ["x-signature"] = h["x-signature"]}, "b|", {now = 1000000})
      assert.equals("bad_signature", uerr.reason)
   end)
end)

describe("handles", function()
   it("close idempotently and refuse use afterwards", function()
      local key = assert(ws.key.generate("secp256k1"))
      local v = assert(ws.message_verifier{trusted = {key:address()}})
      v:close()
      v:close()
      assert.has_error(function() v:verify({}, "") end, "attempt to use a closed walletsign.MessageVerifier")
      assert.matches("closed", tostring(v))
      key:close()
      assert.has_error(function() key:kind() end)
   end)

   it("carry their type names", function()
      local key = assert(ws.key.generate("secp256k1"))
      assert.equals("walletsign.Key", getmetatable(key).__name)
      assert.equals("walletsign.Auth", getmetatable(assert(ws.message_auth{key = key})).__name)
      assert.equals("walletsign.HmacVerifier", getmetatable(assert(ws.hmac_verifier{secrets = {}})).__name)
      assert.equals("walletsign.MessageVerifier",
                    getmetatable(assert(ws.message_verifier{trusted = {}})).__name)
   end)

   if LUA54 then
      it("close as to-be-closed variables (Lua 5.4)", function()
         local chunk = assert(load([[
            local ws = ...
            local kept
            do
               local key <close> = assert(ws.key.generate("secp256k1"))
               kept = key
               assert(key:address())
            end
            return kept
         ]]))
         local key = chunk(ws)
         assert.has_error(function() key:address() end)
      end)
   end

   it("survive heavy garbage collection", function()
      for _ = 1, 200 do
         local key = assert(ws.key.generate("secp256k1"))
         local auth = assert(ws.message_auth{key = key})
         local v = assert(ws.message_verifier{trusted = {key:address()}, cache_size = 16})
         assert(v:verify(assert(auth:sign("POST", "/", "x")), "x"))
      end
      collectgarbage()
      collectgarbage()
   end)
end)

describe("JSON conversion", function()
   local enc, dec = ws._json_encode, ws._json_decode

   it("encodes scalars", function()
      assert.equals("null", enc(ws.null))
      assert.equals("true", enc(true))
      assert.equals('"a\\"b\\\\c\\n\\u0001\\u0000"', enc('a"b\\c\n\1\0'))
      assert.equals("1730998051892", enc(1730998051892))
      assert.equals("1.5", enc(1.5))
      assert.equals("0.1", enc(0.1))
      assert.equals('"\xc3\xa9"', enc("\xc3\xa9"))
      if LUA54 then
         assert.equals("9223372036854775807", enc(math.maxinteger))
      end
   end)

   it("encodes tables: {} is an object, 1..n is an array, ws.array forces one", function()
      assert.equals("{}", enc({}))
      assert.equals("[]", enc(ws.array()))
      assert.equals("[1,2,3]", enc({1, 2, 3}))
      assert.equals('[{"a":[]}]', enc({{a = ws.array()}}))
      assert.equals('{"k":null}', enc({k = ws.null}))
      assert.equals("[1,null,3]", enc(ws.array{1, ws.null, 3}))
      local obj = dec(enc({a = 1, b = {c = "d"}}))
      assert.same({a = 1, b = {c = "d"}}, obj)
   end)

   it("raises on values JSON cannot hold", function()
      assert.has_error(function() enc(print) end, "cannot encode a function as JSON")
      assert.has_error(function() enc({[1] = 1, [3] = 3}) end)
      assert.has_error(function() enc({1, x = 2}) end)
      assert.has_error(function() enc(0 / 0) end)
      assert.has_error(function() enc(math.huge) end)
      local cycle = {}
      cycle.self = cycle
      assert.has_error(function() enc(cycle) end)
      assert.has_error(function() ws.rpc_result(coroutine.create(print)) end)
   end)

   it("decodes with ws.null and array markers", function()
      local t = dec('{"a":[1,2,{"b":null}],"e":[],"o":{},"s":"\\u00e9"}')
      assert.equals(ws.null, t.a[3].b)
      assert.equals(2, t.a[2])
      assert.equals("[]", enc(t.e))
      assert.equals("{}", enc(t.o))
      assert.equals("\xc3\xa9", t.s)
      assert.equals(getmetatable(ws.array()), getmetatable(t.a))
      local none, err = dec("{not json")
      assert.is_nil(none)
      assert.is_string(err)
   end)
end)

describe("JSON numbers and rules (the core's)", function()
   local enc, dec = ws._json_encode, ws._json_decode

   it("decodes integers beyond 2^53 exactly", function()
      local t = dec('{"id":123456789012345678901,"n":9007199254740993,"m":-9007199254740993,' ..
                    '"max":9223372036854775807,"edge":9007199254740992,"small":42,"f":1.5}')
      -- beyond int64: the decimal text on both interpreters
      assert.equals("123456789012345678901", t.id)
      if LUA54 then
         assert.equals("integer", math.type(t.n))
         assert.equals(9007199254740993, t.n)
         assert.equals(-9007199254740993, t.m)
         assert.equals(math.maxinteger, t.max)
      else
         assert.equals("9007199254740993", t.n)
         assert.equals("-9007199254740993", t.m)
         assert.equals("9223372036854775807", t.max)
      end
      assert.equals(9007199254740992, t.edge)
      assert.equals(42, t.small)
      assert.equals(1.5, t.f)
      assert.equals(-0.5e-3, dec("-0.5e-3"))
   end)

   it("keeps big integers exact through rpc_parse", function()
      local r = assert(ws.rpc_parse('{"result":{"id":9007199254740993,"big":123456789012345678901}}'))
      assert.equals(LUA54 and 9007199254740993 or "9007199254740993", r.id)
      assert.equals("123456789012345678901", r.big)
   end)

   it("refuses JSON the core refuses", function()
      for _, text in ipairs{'{"a":1,"a":2}', '[{"x":{"b":1,"b":1}}]', '"\xff"', '"a\\u0000b"', "01", "[1,]"} do
         local v, err = dec(text)
         assert.is_nil(v, text)
         assert.is_string(err, text)
      end
      local v, err = dec('{"a":1,"a":2}')
      assert.is_nil(v)
      assert.matches("named twice", err)
      local r, rerr = ws.rpc_parse('{"result":{"a":1,"a":2}}')
      assert.is_nil(r)
      assert.equals("protocol_error", rerr.kind)
   end)

   it("refuses strings that are not UTF-8 when encoding", function()
      assert.has_error(function() enc("\xff") end, "JSON writer: string is not UTF-8")
      assert.has_error(function() enc({["\xc0\x80"] = 1}) end, "JSON writer: string is not UTF-8")
      assert.equals('"\xc3\xa9"', enc("\xc3\xa9"))
   end)
end)

describe("JSON-RPC envelope", function()
   it("builds result and error bodies", function()
      assert.equals('{"result":{"ok":true}}', ws.rpc_result({ok = true}))
      assert.equals('{"result":[]}', ws.rpc_result(ws.array()))
      assert.equals('{"result":null}', ws.rpc_result(nil))
      assert.equals('{"error":{"code":401,"message":"Unauthorized","data":{"reason":"replay"}}}',
                    ws.rpc_error(401, "Unauthorized", {reason = "replay"}))
      assert.equals('{"error":{"code":-32600,"message":"bad \\"x\\""}}', ws.rpc_error(-32600, 'bad "x"'))
   end)

   it("parses results and errors", function()
      assert.same({ok = true}, ws.rpc_parse('{"error":null,"result":{"ok":true}}'))
      assert.equals(5, ws.rpc_parse('{"result":5}'))
      local r, err = ws.rpc_parse('{"error":{"code":31,"message":"Insufficient balance","data":{"total":"2e6"}}}')
      assert.is_nil(r)
      assert.equals("rpc_error", err.kind)
      assert.equals("31", err.code)        -- the API's code as text, as in Python and the CLI
      assert.equals(31, err.rpc_code)
      assert.equals("Insufficient balance", err.message)
      assert.same({total = "2e6"}, err.data)
      assert.matches("%[31%]: Insufficient balance", tostring(err))
      local p, perr = ws.rpc_parse("<html>")
      assert.is_nil(p)
      assert.equals("protocol_error", perr.kind)
   end)
end)

describe("64-bit integers", function()
   -- Exact on both interpreters: an integer on Lua 5.4; on LuaJIT a number
   -- up to 2^53 and a decimal string beyond (doubles round there).
   local function beyond_2_53(text) -- compares decimal digits, never doubles
      local digits = text:gsub("^%-", "")
      return #digits > 16 or (#digits == 16 and digits > "9007199254740992")
   end

   local function assert_exact(text, v, what)
      if LUA54 then
         assert.equals("integer", math.type(v), what)
         assert.equals(text, tostring(v), what)
      elseif beyond_2_53(text) then
         assert.equals("string", type(v), what)
         assert.equals(text, v, what)
      else
         assert.equals("number", type(v), what)
         assert.equals(text, string.format("%.0f", v), what)
      end
   end

   it("returns message timestamps beyond 2^53 exactly", function()
      local auth = assert(ws.message_auth{key = assert(ws.key.from_hex(KNOWN_HEX))})
      local v = assert(ws.message_verifier{trusted = {KNOWN_ADDRESS}, replay_cache = false})
      for _, ts in ipairs{"9007199254740991", "9007199254740992", "9007199254740993",
                          "9007199254740995", "18014398509481985", "9223372036854775807"} do
         local h = assert(auth:_sign_fixed("7", "1", "body", ts))
         assert.equals(ts, h["X-Message-Timestamp"])
         local m = assert(v:verify(h, "body", {now = ts}))
         assert_exact(ts, m.timestamp, "timestamp " .. ts)
      end
   end)

   it("returns JSON-RPC error codes beyond 2^53 exactly", function()
      for _, code in ipairs{"9007199254740992", "9007199254740993", "-9007199254740993",
                            "9223372036854775807", "-9223372036854775808", "-32600"} do
         local r, err = ws.rpc_parse('{"error":{"code":' .. code .. ',"message":"m"}}')
         assert.is_nil(r)
         assert.equals("rpc_error", err.kind)
         assert_exact(code, err.rpc_code, "code " .. code)
         assert.equals(code, err.code)
      end
   end)

   it("returns JWT times exactly up to the 2^53 s the core accepts", function()
      local key = assert(ws.key.generate("P-256"))
      local auth = assert(ws.jwt_auth{key = key, key_id = "kid", signature_format = "raw"})
      local iat = "9007199254740982" -- exp = iat + 10 = 2^53
      local token = assert(auth:_token_fixed("/query", "{}", iat, string.rep("ab", 20)))
      local claims = assert(ws.verify_jwt(token, key, {now = iat, uri = "/query", body = "{}"}))
      assert_exact(iat, claims.iat, "iat")
      assert_exact("9007199254740992", claims.exp, "exp")
   end)
end)

describe("ws.assert", function()
   it("returns every value it was given when the first is true", function()
      local key, extra = ws.assert(ws.key.from_hex(KNOWN_HEX), "second")
      assert.equals(KNOWN_ADDRESS, key:address())
      assert.equals("second", extra)
   end)

   it("raises the error's text, not the table, at the caller's line", function()
      local ok, raised = pcall(function()
         local key = ws.assert(ws.key.load("/nonexistent/walletsign.pem"))
         return key
      end)
      assert.is_false(ok)
      -- a string, so hosts that do not call __tostring (nginx's init_by_lua*) print it
      assert.equals("string", type(raised))
      assert.matches("api_spec.lua:%d+: walletsign io_error: ", raised)
      assert.truthy(raised:find("/nonexistent/walletsign.pem", 1, true), raised)
   end)

   it("says 'assertion failed!' without an error", function()
      local ok, raised = pcall(ws.assert, false)
      assert.is_false(ok)
      assert.matches("assertion failed!", raised)
   end)
end)

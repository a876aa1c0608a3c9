-- Every known answer in tests/vectors/*.json (made by independent libraries).
local spec_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = spec_dir .. "/?.lua;" .. package.path
local H = require "helpers"
local ws = require "walletsign"

local function expect_reason(ok, err, reason, name)
   if reason == nil then
      assert(ok, name .. ": expected success, got " .. tostring(err))
   else
      assert.is_nil(ok, name .. ": expected rejection " .. reason)
      assert.equals("invalid", err.kind, name)
      assert.equals(reason, err.reason, name .. ": " .. tostring(err))
   end
end

describe("hmac vectors", function()
   local v = H.vectors("hmac.json")

   it("has cases", function()
      assert.is_true(#v.cases > 0 and #v.verify_negative > 0)
   end)

   for _, c in ipairs(v.cases) do
      it("signs " .. c.name, function()
         local auth = assert(ws.hmac_auth{api_key = c.api_key, secret = H.unhex(c.secret_hex),
                                          encoding = c.encoding, separator = c.separator})
         local body = H.body(c)
         local headers = assert(auth:sign(c.method, c.path, body, {timestamp = c.timestamp_ms}))
         assert.same(c.headers, headers)
         assert.equals(c.signature, headers["x-signature"])
         -- and the verifier takes it back, with lower-cased header names too
         local verifier = assert(ws.hmac_verifier{secrets = {[c.api_key] = H.unhex(c.secret_hex)},
                                                  encoding = c.encoding, separator = c.separator})
         local lower = {}
         for k, val in pairs(headers) do lower[k:lower()] = val end
         assert.equals(c.api_key, verifier:verify(c.method, c.path, lower, body,
                                                  {now = c.timestamp_ms}))
      end)
   end

   for _, c in ipairs(v.refused_secrets) do
      it("refuses the secret " .. c.name, function()
         assert.equals("argument", c.expect_error)
         local auth, err = ws.hmac_auth{api_key = c.api_key, secret = H.unhex(c.secret_hex)}
         assert.is_nil(auth)
         assert.equals("argument_error", err.kind)
         assert.matches("secret", err.message)
         local verifier
         verifier, err = ws.hmac_verifier{secrets = {["good-key"] = "good-secret",
                                                     [c.api_key] = H.unhex(c.secret_hex)}}
         assert.is_nil(verifier)
         assert.equals("argument_error", err.kind)
         assert.matches("secret", err.message)
      end)
   end

   for _, c in ipairs(v.verify_negative) do
      it("verifies " .. c.name, function()
         local verifier = assert(ws.hmac_verifier{secrets = {[c.api_key] = c.secret},
                                                  window_ms = c.window_ms,
                                                  encoding = c.encoding, separator = c.separator})
         local headers = {["x-api-key"] = c.api_key, ["x-timestamp"] = H.int_text(c.timestamp_ms),
                          ["x-signature"] = c.signature}
         local key, err = verifier:verify(c.method, c.path, headers, H.body(c), {now = c.now_ms})
         expect_reason(key, err, H.value(c.expect_reason), c.name)
         if key then assert.equals(c.api_key, key) end
      end)
   end
end)

describe("message vectors", function()
   local v = H.vectors("message.json")

   for _, a in ipairs(v.addresses) do
      it("derives the address " .. a.address, function()
         local key = assert(ws.key.from_hex(a.private_key_hex))
         assert.equals(a.address, key:address())
         assert.equals(a.address, assert(ws.key.from_hex("0x" .. a.private_key_hex)):address())
      end)
   end

   for _, c in ipairs(v.keccak) do
      it("keccak256 of " .. math.floor(#c.input_hex / 2) .. " bytes", function()
         assert.equals(c.digest_hex, ws._keccak256_hex(H.unhex(c.input_hex)))
      end)
   end

   for _, c in ipairs(v.cases) do
      it("signs " .. c.name, function()
         local key = assert(ws.key.from_hex(c.private_key_hex))
         local auth = assert(ws.message_auth{key = key, encoding = c.encoding, digest = c.digest,
                                             v_offset = c.v_offset, empty_body = c.empty_body,
                                             prefix = c.prefix})
         assert.equals(c.address, auth:address())
         local body = H.body(c)
         local headers = assert(auth:_sign_fixed(c.session, c.sequence, body, c.timestamp_ms))
         assert.same(c.headers, headers)
         if c.encoding == "rsv" then -- verifiers take r||s||v only
            local verifier = assert(ws.message_verifier{trusted = {c.address}, digest = c.digest})
            local m = assert(verifier:verify(headers, body, {now = c.timestamp_ms}))
            assert.same({address = c.address, session = c.session, sequence = c.sequence},
                        {address = m.address, session = m.session, sequence = m.sequence})
            assert.equals(H.int_text(c.timestamp_ms), H.int_text(m.timestamp))
         end
      end)
   end

   for _, c in ipairs(v.verify_negative) do
      it("verifies " .. c.name, function()
         local verifier = assert(ws.message_verifier{trusted = c.trusted, window_ms = c.window_ms,
                                                     digest = c.digest})
         local body = H.body(c)
         local m, err = verifier:verify(c.headers, body, {now = c.now_ms})
         if H.value(c.verify_twice) then
            assert(m, c.name .. ": first delivery must verify: " .. tostring(err))
            m, err = verifier:verify(c.headers, body, {now = c.now_ms})
         end
         expect_reason(m, err, H.value(c.expect_reason), c.name)
      end)
   end

   -- Leading zeros are part of the signed prehash (issue #11 item 6); a known
   -- answer made by tests/reference/walletref.py (python-ecdsa).
   it("returns session and sequence as received", function()
      local address = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
      local verifier = assert(ws.message_verifier{trusted = {address}})
      local headers = {
         ["X-Message-Address"] = address, ["X-Message-Timestamp"] = "1730998051892",
         ["X-Message-Session"] = "0915000000000000001", ["X-Message-Sequence"] = "007",
         ["X-Message-Signature"] = "0xa0bca5869fcef11e0647d4f5631362f219a5134a2e4e529b52faf1"
            .. "8fa6250f52051df2050f27b850f22c400575e226ad4c14c9001e270a7b6b34a47cade132361b",
      }
      local m = assert(verifier:verify(headers, '{"type":"deposit_status"}',
                                       {now = 1730998051892}))
      assert.same({"0915000000000000001", "007"}, {m.session, m.sequence})
   end)

   it("makes Snowflake sessions from the clock", function()
      local key = assert(ws.key.from_hex(v.addresses[1].private_key_hex))
      local session = assert(ws.message_auth{key = key}):session()
      assert.matches("^%d+$", session)
      local ms = math.floor(tonumber(session) / 2 ^ 22) + 1577836800000
      assert.is_true(math.abs(ms - os.time() * 1000) < 120000, "session " .. session)
   end)
end)

describe("jwt vectors", function()
   local v = H.vectors("jwt.json")
   local keys = H.keys_dir .. "/"

   for _, c in ipairs(v.rs256_exact) do
      it("signs " .. c.name .. " byte for byte", function()
         local key = assert(ws.key.load(keys .. c.key_file))
         local auth, warning = ws.jwt_auth{key = key, key_id = c.kid, ttl = c.ttl}
         assert.truthy(auth, tostring(warning))
         if key:bits() < 4096 then
            assert.matches("4096", warning)
         else
            assert.is_nil(warning)
         end
         local body = H.body(c)
         assert.equals(c.token, auth:_token_fixed(c.uri, body, c.iat, c.nonce_hex))
         local pem = H.read_file(keys .. c.public_key_file)
         local claims = assert(ws.verify_jwt(c.token, pem, {now = c.iat, uri = c.uri, body = body}))
         assert.equals("RS256", claims.alg)
         claims.alg = nil
         assert.same(c.claims, claims)
      end)
   end

   for _, c in ipairs(v.es256_verify) do
      it("verifies " .. c.name, function()
         local body = H.body(c)
         local public = H.read_file(keys .. c.public_key_file)
         local claims = assert(ws.verify_jwt(c.token, public, {now = c.now, uri = c.uri, body = body}))
         assert.equals("ES256", claims.alg)
         claims.alg = nil
         assert.same(c.claims, claims)
         -- the private key in any of its encodings verifies too
         local private = assert(ws.key.load(keys .. c.key_file, H.value(c.password)))
         assert(ws.verify_jwt(c.token, private, {now = c.now}))
         -- and a token the module signs with that key verifies against the public PEM
         local auth = assert(ws.jwt_auth{key = private, key_id = c.kid, ttl = c.ttl,
                                         signature_format = c.format})
         local token = assert(auth:token(c.uri, body, {now = c.iat}))
         local mine = assert(ws.verify_jwt(token, public, {now = c.now, uri = c.uri, body = body}))
         assert.equals(c.kid, mine.kid)
         assert.equals(c.claims.bodyHash, mine.bodyHash)
         local sig = token:match("[^.]+$")
         local sig_len = math.floor(#sig * 3 / 4)
         if c.format == "raw" then assert.equals(64, sig_len) else assert.is_true(sig_len >= 68) end
      end)
   end

   for _, c in ipairs(v.verify_negative) do
      it("verifies " .. c.name, function()
         local pem = H.read_file(keys .. c.public_key_file)
         local claims, err = ws.verify_jwt(c.token, pem, {now = c.now, leeway = c.leeway,
                                                           max_ttl = c.max_ttl})
         expect_reason(claims, err, H.value(c.expect_reason), c.name)
      end)
   end
end)

describe("key files", function()
   local doc = H.load_json(H.keys_dir .. "/keys.json", 60)
   local kinds = {p256 = "P-256", rsa = "RSA", secp256k1 = "secp256k1"}

   for _, k in ipairs(doc.keys) do
      it("loads " .. k.file .. " (" .. k.expect .. ")", function()
         local path = H.keys_dir .. "/" .. k.file
         local key, err = ws.key.load(path, H.value(k.password))
         local loads = k.expect == "ok" or k.expect == "ok_public" or
                       (k.expect == "wrong_curve" and k.kind == "secp256k1")
         if not loads then
            assert.is_nil(key, k.file)
            assert.equals("key_error", err.kind, tostring(err))
            -- a CSR, EC parameters alone, an indented PEM: the error says which
            local hint = H.value(k.error_hint)
            if hint then assert.is_truthy(err.message:find(hint, 1, true), err.message) end
            return
         end
         assert(key, tostring(err))
         assert.equals(kinds[k.kind], key:kind())
         assert.equals(k.bits, key:bits())
         assert.equals(k.private, key:is_private())
         -- the same bytes load as PEM/DER text, not only from a path
         assert(ws.key.load(H.read_file(path), H.value(k.password)))
         if H.value(k.public_pem) then
            assert.equals(k.public_pem, key:public_pem())
         end
         if k.kind == "secp256k1" then
            assert.equals(k.address, key:address())
         end
         local auth, aerr = ws.jwt_auth{key = key, key_id = "kid"}
         if k.expect == "ok" then
            assert(auth, tostring(aerr))
            if k.warn then assert.is_string(aerr) else assert.is_nil(aerr) end
         else -- public keys and secp256k1 cannot sign Halogen tokens
            assert.is_nil(auth)
            assert.equals("key_error", aerr.kind, tostring(aerr))
         end
      end)
   end

   it("refuses an encrypted key without its password, or with a wrong one", function()
      local path = H.keys_dir .. "/p256_pkcs8_encrypted.pem"
      local key, err = ws.key.load(path)
      assert.is_nil(key)
      assert.equals("password_error", err.kind)
      key, err = ws.key.load(path, "Tr0ub4dor&3-not-it")
      assert.is_nil(key)
      assert.equals("password_error", err.kind)
      assert.is_nil(err.message:find("Tr0ub4dor", 1, true))
   end)
end)

-- keys.json "detection": the core detects PEM, DER or 64 hex digits; a Lua
-- string given to key.load is key text or a path (hex refused as ambiguous).
describe("key form detection", function()
   local doc = H.load_json(H.keys_dir .. "/keys.json", 60)

   local function bytes_of(c)
      if c.data then return c.data end
      if c.data_hex then return H.unhex(c.data_hex) end
      local data = H.read_file(H.keys_dir .. "/" .. c.file)
      if c.truncate then data = data:sub(1, c.truncate) end
      return (c.prefix or "") .. data
   end

   local function check(c, expect, how, key, err)
      local what = c.name .. " (" .. how .. ")"
      if expect == "ok" then
         assert(key, what .. ": " .. tostring(err))
         if c.address then assert.equals(c.address, key:address(), what) end
         if c.public_key_file then
            assert.equals(H.read_file(H.keys_dir .. "/" .. c.public_key_file), key:public_pem(),
                          what)
         end
         return
      end
      assert.is_nil(key, what)
      assert.equals(expect, err.kind, what .. ": " .. tostring(err))
      if expect == "key_error" and H.value(c.error_hint) then
         assert.is_truthy(err.message:find(c.error_hint, 1, true), what .. ": " .. err.message)
      end
      if c.no_echo then -- not even a source taken as a path (a mistyped key?)
         assert.is_nil(err.message:find(c.no_echo, 1, true), what .. ": echoes the input")
      end
   end

   for i, c in ipairs(doc.detection) do
      it(c.name, function()
         local data = bytes_of(c)
         check(c, c.expect, "load_data", ws.key.load_data(data))
         local path = os.tmpname()
         local f = assert(io.open(path, "wb"))
         f:write(data)
         f:close()
         check(c, c.expect, "load_file", ws.key.load_file(path))
         os.remove(path)
         check(c, c.as_source, "load", ws.key.load(data))
      end)
   end

   it("has a case of every form", function()
      local forms = {}
      for _, c in ipairs(doc.detection) do forms[c.form or "none"] = true end
      assert.is_true(forms.pem and forms.der and forms.hex and forms.none)
   end)
end)

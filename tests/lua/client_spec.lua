-- ws.client against tests/mock_server: every call style, every error kind,
-- retries, the rate limiter, TLS options and handle lifetimes.
local spec_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = spec_dir .. "/?.lua;" .. package.path
local H = require "helpers"
local ws = require "walletsign"

local info = H.mock()
local URL = info.url

local function header(entry, name)
   for k, v in pairs(entry.headers) do
      if k:lower() == name:lower() then return v end
   end
end

local function hmac_client(opts)
   opts = opts or {}
   local auth = assert(ws.hmac_auth{api_key = info.hmac_api_key, secret = opts.secret or info.hmac_secret})
   opts.secret = nil
   opts.base_url = opts.base_url or URL
   opts.auth = auth
   return assert(ws.client(opts))
end

local key_counter = 0
-- A fresh P-256 key registered with the mock's Halogen (its rate limit is per key).
local function jwt_client(opts, fmt)
   key_counter = key_counter + 1
   local key = assert(ws.key.generate("P-256"))
   local kid = "lua-" .. _VERSION:gsub("%W", "") .. "-" .. key_counter .. "-" .. os.time()
   local reg = H.mock_post("/_mock/halogen/register?key_id=" .. kid,
                           assert(key:csr("/C=MY/O=walletsign tests/CN=" .. kid)))
   assert.equals(kid, reg.key_id)
   assert.equals("ES256", reg.alg)
   local auth = assert(ws.jwt_auth{key = key, key_id = kid, signature_format = fmt})
   opts = opts or {}
   opts.base_url, opts.auth = URL, auth
   return assert(ws.client(opts)), kid
end

local function wm_client(opts)
   local key = assert(ws.key.from_hex(info.merchant_private_key_hex))
   opts = opts or {}
   opts.base_url, opts.auth = URL, assert(ws.message_auth{key = key})
   return assert(ws.client(opts))
end

teardown(function()
   H.stop_mocks()
end)

describe("client (hmac API)", function()
   it("sends a signed GET and returns status, headers and body", function()
      local c = hmac_client()
      local res = assert(c:request("GET", "/v1/wallet/list?skip=0&take=5&orderBy=asc"))
      assert.equals(200, res.status)
      assert.equals(1, res.attempts)
      assert.equals("application/json", res.headers["content-type"])
      local doc = assert(res:json())
      assert.equals(5, #doc.data)
      assert.equals(0, doc.skip)
      local entry = H.mock_log("/v1/wallet/list")
      entry = entry[#entry]
      assert.matches("^hmac:", entry.verified_by)
      assert.matches("^walletsign/[%d.]+ %(lua%)$", header(entry, "User-Agent"))
      c:close()
   end)

   it("encodes json= bodies and sends extra headers", function()
      local c = hmac_client()
      local res = assert(c:request("POST", "/v1/wallet/create", {json = {name = "Lua wallet"},
                                                                  headers = {["X-Trace"] = "t-1"}}))
      assert.equals(200, res.status, res.body)
      assert.equals("Lua wallet", res:json().name)
      local log = H.mock_log("/v1/wallet/create")
      assert.equals("t-1", header(log[#log], "X-Trace"))
      assert.equals("application/json", header(log[#log], "Content-Type"))
   end)

   it("returns HTTP errors from request() as responses", function()
      local c = hmac_client{secret = "not-the-secret"}
      local res = assert(c:request("GET", "/v1/wallet/list"))
      assert.equals(401, res.status)
      assert.equals("bad_signature", res:json().reason)
   end)

   it("refuses bad request arguments", function()
      local c = hmac_client()
      assert.has_error(function() c:request("GET") end)
      assert.has_error(function() c:request("POST", "/x", {json = {1}, body = "x"}) end)
      local res, err = c:request("GET", "no-slash")
      assert.is_nil(res)
      assert.equals("argument_error", err.kind)
   end)
end)

describe("client (Halogen API)", function()
   it("queries and commands with ES256 tokens", function()
      local c, kid = jwt_client()
      local accounts = assert(c:query("list_client_accounts"))
      assert.is_table(accounts)
      local profile = assert(c:query("get_client_profile", {}))
      assert.is_table(profile)
      local log = H.mock_log("/query")
      assert.equals("jwt:ES256:der:" .. kid, log[#log].verified_by)
      local res, err = c:command("create_investment_request",
                                 {accountId = "account_123", fundId = "fund_abc", amount = 100})
      assert(res or (err and err.kind == "http_error"), tostring(err))
   end)

   it("sends raw ES256 signatures when asked", function()
      local c, kid = jwt_client(nil, "raw")
      H.mock_post("/_mock/halogen/config", {es256_format = "raw"})
      local ok, err = c:query("list_client_accounts", {})
      H.mock_post("/_mock/halogen/config", {es256_format = "any"})
      assert(ok, tostring(err))
      local log = H.mock_log("/query")
      assert.equals("jwt:ES256:raw:" .. kid, log[#log].verified_by)
   end)

   it("signs RS256 with an RSA-4096 key", function()
      local key = assert(ws.key.load(H.keys_dir .. "/rsa4096_pkcs8.pem"))
      local kid = "lua-rsa-" .. _VERSION:gsub("%W", "")
      H.mock_post("/_mock/halogen/register_public?key_id=" .. kid, key:public_pem())
      local c = assert(ws.client{base_url = URL, auth = assert(ws.jwt_auth{key = key, key_id = kid})})
      assert(c:query("list_client_accounts", "{}"))
      local log = H.mock_log("/query")
      assert.equals("jwt:RS256:pkcs1:" .. kid, log[#log].verified_by)
   end)

   it("maps Halogen errors to http_error with status, code, message and body", function()
      local c = jwt_client()
      local res, err = c:query("no_such_operation", {})
      assert.is_nil(res)
      assert.equals("http_error", err.kind)
      assert.equals(400, err.status)
      assert.equals("ErrInvalidParameter", err.code)
      assert.is_string(err.message)
      assert.matches('"code"', err.body)
      assert.matches("HTTP 400 %[ErrInvalidParameter%]", tostring(err))
   end)

   it("retries a 429 after Retry-After, with a fresh token", function()
      local c = jwt_client()
      H.mock_delete("/_mock/log")
      H.mock_post("/_mock/faults", {path = "/query", faults = {"status:429:retry_after=0"}})
      assert(c:query("list_client_accounts"))
      local log = H.mock_log("/query")
      assert.equals(2, #log)
      assert.equals(429, log[1].status)
      assert.equals(200, log[2].status)
      assert.are_not.equal(header(log[1], "Authorization"), header(log[2], "Authorization"))
   end)

   it("gives up on 429 after the attempt limit and reports retry_after", function()
      local c = jwt_client{max_429_attempts = 2}
      H.mock_post("/_mock/faults", {path = "/query",
                                    faults = {"status:429:retry_after=0", "status:429:retry_after=0"}})
      local res, err = c:query("list_client_accounts")
      assert.is_nil(res)
      assert.equals("http_error", err.kind)
      assert.equals(429, err.status)       -- the deprecated alias of http_status
      assert.equals(429, err.http_status)
      assert.equals("ErrRateLimitExceeded", err.code)
      assert.equals(0, err.retry_after)
      assert.is_string(err.body)
      assert.is_nil(err.rpc_code); assert.is_nil(err.curl_code); assert.is_nil(err.reason)
   end)

   it("retries 5xx for queries but not for commands without an idempotency key", function()
      local c = jwt_client{backoff = 0.01}
      H.mock_post("/_mock/faults", {path = "/query", faults = {"status:503"}})
      assert(c:query("list_client_accounts"))
      H.mock_post("/_mock/faults", {path = "/command", faults = {"status:503"}})
      local payload = {accountId = "account_123", fundId = "fund_abc", amount = 100}
      local res, err = c:command("create_investment_request", payload)
      assert.is_nil(res)
      assert.equals(503, err.status)
      H.mock_post("/_mock/faults", {path = "/command", faults = {"status:503"}})
      H.mock_delete("/_mock/log")
      local ok, ierr = c:command("create_investment_request", payload, {idempotency_key = "idem-" .. os.time()})
      assert(ok or ierr.kind == "http_error", tostring(ierr))
      local log = H.mock_log("/command")
      assert.equals(2, #log)
      assert.matches("^idem%-", header(log[2], "Idempotency-Key"))
      H.mock_delete("/_mock/faults")
   end)

   it("reports timeouts, refused connections and non-JSON answers", function()
      local c = jwt_client{timeout = 0.3, retries = 0}
      H.mock_post("/_mock/faults", {path = "/query", faults = {"delay:1500"}})
      local res, err = c:query("list_client_accounts")
      assert.is_nil(res)
      assert.equals("timeout", err.kind)
      assert.equals(28, err.curl_code)
      local nc = jwt_client{retries = 0}
      H.mock_post("/_mock/faults", {path = "/query", faults = {"nonjson"}})
      res, err = nc:query("list_client_accounts")
      assert.is_nil(res)
      assert.equals("protocol_error", err.kind)
      local dead = hmac_client{base_url = "http://127.0.0.1:1", retries = 0, connect_timeout = 1}
      res, err = dead:request("GET", "/v1/wallet/list")
      assert.is_nil(res)
      assert.equals("transport_error", err.kind)
      assert.is_number(err.curl_code)
   end)
end)

describe("client (Wallet Manager)", function()
   it("calls methods and returns the JSON-RPC result", function()
      local c = wm_client()
      local r = assert(c:call("POST", "/access/get_address", {chain_type = "ETH", chain_id = "1", user_id = "u1"}))
      assert.matches("^0x%x+$", r.address)
      assert.equals("u1", r.user_id)
      local tx = "0x" .. string.rep("ab", 32)
      local d = assert(c:call("GET", "/access/ETH/1/transfer/hash/" .. tx .. "/deposit"))
      assert.equals(tx, d.tx_hash)
   end)

   it("returns JSON-RPC errors with code, message and data", function()
      local c = wm_client()
      local r, err = c:call("POST", "/access/batch_withdraw",
                            {chain_type = "ETH", chain_id = "1",
                             withdraws = {{to = "0x" .. string.rep("11", 20), amount = "2000000"}}})
      assert.is_nil(r)
      assert.equals("rpc_error", err.kind)
      assert.equals(31, err.rpc_code)
      assert.equals("31", err.code)
      assert.equals("Insufficient balance", err.message)
      assert.is_string(err.data.total)
      local tx0 = "0x" .. string.rep("00", 32)
      r, err = c:call("GET", "/access/ETH/1/transfer/hash/" .. tx0 .. "/deposit")
      -- The same failure, the same fields as Python's RpcError and the CLI's JSON.
      assert.equals("rpc_error", err.kind)
      assert.equals(24, err.rpc_code)
      assert.equals("24", err.code)
      assert.equals("Not found", err.message)
      assert.equals(tx0, err.data.tx_hash)
      assert.equals("walletsign rpc_error HTTP 200 [24]: Not found", tostring(err))
   end)

   it("is refused when the merchant key is not trusted", function()
      local stranger = assert(ws.key.generate("secp256k1"))
      local c = assert(ws.client{base_url = URL, auth = assert(ws.message_auth{key = stranger})})
      local r, err = c:call("POST", "/access/get_address", {chain_type = "ETH", chain_id = "1"})
      assert.is_nil(r)
      assert.equals(401, err.rpc_code)
      assert.equals(401, err.http_status)
      assert.equals("untrusted_address", err.data.reason)
   end)

   it("verifies signed responses when given a verifier", function()
      local good = assert(ws.message_verifier{trusted = {info.wallet_manager_address}})
      local c = wm_client{response_verifier = good}
      assert(c:call("POST", "/access/get_address", {chain_type = "ETH", chain_id = "1"}))
      local other = assert(ws.key.generate("secp256k1"))
      local bad = assert(ws.message_verifier{trusted = {other:address()}})
      local c2 = wm_client{response_verifier = bad}
      local r, err = c2:call("POST", "/access/get_address", {chain_type = "ETH", chain_id = "1"})
      assert.is_nil(r)
      assert.equals("invalid", err.kind)
      assert.equals("untrusted_address", err.reason)
   end)
end)

describe("client options and lifetimes", function()
   it("spaces requests with the rate limiter", function()
      local c = hmac_client{rate_limit = {5, 1}}
      H.mock_delete("/_mock/log")
      for _ = 1, 4 do assert.equals(200, assert(c:request("GET", "/v1/wallet/list")).status) end
      local log = H.mock_log("/v1/wallet/list")
      assert.equals(4, #log)
      for i = 2, 4 do
         assert.is_true(log[i].t_ms - log[i - 1].t_ms >= 150, "gap " .. (log[i].t_ms - log[i - 1].t_ms))
      end
      local none, err = ws.client{base_url = URL, auth = assert(ws.hmac_auth{api_key = "k", secret = "s"}),
                                  rate_limit = {0.0005, 1}}
      assert.is_nil(none)
      assert.equals("argument_error", err.kind)
      assert.has_error(function() hmac_client{rate_limit = "fast"} end)
   end)

   it("keeps working after its auth is closed and collected", function()
      local auth = assert(ws.hmac_auth{api_key = info.hmac_api_key, secret = info.hmac_secret})
      local c = assert(ws.client{base_url = URL, auth = auth})
      auth:close()
      collectgarbage()
      assert.has_error(function() auth:sign("GET", "/") end)
      assert.equals(200, assert(c:request("GET", "/v1/wallet/list")).status)
      c:close()
      c:close()
      assert.has_error(function() c:request("GET", "/v1/wallet/list") end, "attempt to use a closed walletsign.Client")
      assert.has_error(function() ws.client{base_url = URL, auth = auth} end)
   end)

   it("keeps working after its auth and verifier handles are gone", function()
      local key = assert(ws.key.from_hex(info.merchant_private_key_hex))
      local other = assert(ws.key.generate("secp256k1"))
      local good = ws.client{base_url = URL, auth = assert(ws.message_auth{key = key}),
                             response_verifier = assert(ws.message_verifier{trusted = {info.wallet_manager_address}})}
      local v = assert(ws.message_verifier{trusted = {other:address()}})
      local bad = ws.client{base_url = URL, auth = assert(ws.message_auth{key = key}), response_verifier = v}
      v:close()
      collectgarbage()
      collectgarbage()
      local params = {chain_type = "ETH", chain_id = "1"}
      assert.equals("ETH", assert(good:call("POST", "/access/get_address", params)).chain_type)
      local r, err = bad:call("POST", "/access/get_address", params)
      assert.is_nil(r)
      assert.equals("untrusted_address", err.reason) -- still the verifier it was given
      good:close()
      bad:close()
   end)

   it("survives any collection order of client, auth and verifier", function()
      for _ = 1, 50 do
         local key = assert(ws.key.generate("secp256k1"))
         local v = assert(ws.message_verifier{trusted = {key:address()}})
         local _ = assert(ws.client{base_url = URL, auth = assert(ws.message_auth{key = key}),
                                    response_verifier = v})
      end
      collectgarbage()
      collectgarbage()
   end)

   it("validates its options", function()
      local auth = assert(ws.hmac_auth{api_key = "k", secret = "s"})
      assert.has_error(function() ws.client{auth = auth} end)
      assert.has_error(function() ws.client{base_url = URL} end)
      assert.has_error(function() ws.client{base_url = URL, auth = auth, verify = 3} end)
      assert.has_error(function() ws.client{base_url = URL, auth = auth, retries = 1.5} end)
      -- Ranges are the core's: nil and an argument_error naming the option.
      for field, value in pairs{timeout = -1, retries = -1, max_429_attempts = 101, backoff = -1,
                                max_response = -1, max_retry_after = 0 / 0} do
         local c, err = ws.client{base_url = URL, auth = auth, [field] = value}
         assert.is_nil(c, field)
         assert.equals("argument_error", err.kind, field)
         assert.truthy(err.message:find(field == "retries" and "max_retries" or field, 1, true), err.message)
      end
      local c, err = ws.client{base_url = "ftp://example.com", auth = auth}
      assert.is_nil(c)
      assert.equals("argument_error", err.kind)
   end)

   it("verifies TLS peers by default, with a CA file, or not at all when told", function()
      local tls = H.mock("--tls")
      local auth = assert(ws.hmac_auth{api_key = tls.hmac_api_key, secret = tls.hmac_secret})
      local strict = assert(ws.client{base_url = tls.url, auth = auth, retries = 0})
      local res, err = strict:request("GET", "/v1/wallet/list")
      assert.is_nil(res)
      assert.equals("transport_error", err.kind)
      local pinned = assert(ws.client{base_url = tls.url, auth = auth, verify = tls.ca_file})
      assert.equals(200, assert(pinned:request("GET", "/v1/wallet/list")).status)
      local open = assert(ws.client{base_url = tls.url, auth = auth, verify = false})
      assert.equals(200, assert(open:request("GET", "/v1/wallet/list")).status)
   end)
end)

describe("client: what is signed is sent", function()
   local INJECTED = "GET /evil HTTP/1.1\r\nX-Injected: yes\r\nX-Pad:"

   local function sent(path) return #H.mock_log(path) end

   it("refuses a method that is not an RFC 9110 token, in every call and in auth:sign", function()
      local jwt = jwt_client()
      local wm = wm_client()
      local before = sent("/query") + sent("/evil")
      for _, c in ipairs{jwt, wm} do
         local r, err = c:request(INJECTED, "/query")
         assert.is_nil(r)
         assert.equals("argument_error", err.kind)
         assert.matches("method", err.message)
         r, err = c:call(INJECTED, "/query")
         assert.is_nil(r)
         assert.equals("argument_error", err.kind)
      end
      assert.equals(before, sent("/query") + sent("/evil"))
      local auths = {assert(ws.hmac_auth{api_key = "k", secret = "s"}),
                     assert(ws.message_auth{key = assert(ws.key.generate("secp256k1"))})}
      for _, a in ipairs(auths) do
         local h, err = a:sign(INJECTED, "/query", "")
         assert.is_nil(h)
         assert.equals("argument_error", err.kind)
         assert(a:sign("PATCH", "/query", ""))
      end
      -- "get" is signed and sent as GET (hmac signs the method upper-cased)
      local r = assert(hmac_client():request("get", "/v1/wallet/list?skip=0&take=1&orderBy=asc"))
      assert.equals(200, r.status)
   end)

   it("sends the path byte for byte as signed, and refuses one it cannot", function()
      local c = hmac_client()
      for _, path in ipairs{"/v1/./wallet/list", "/v1/x/../wallet/list", "/v1//wallet/list?"} do
         local res = assert(c:request("GET", path))
         assert.equals(404, res.status)                   -- verified, then no such route
         local log = H.mock_get("/_mock/log")
         local entry = log[#log]
         assert.equals(path, entry.target)
         assert.matches("^hmac:", entry.verified_by)
      end
      for _, path in ipairs{"/v1/wallet/list#top", "/v1/wallet/list?a=1#", "/a b"} do
         local res, err = c:request("GET", path)
         assert.is_nil(res)
         assert.equals("argument_error", err.kind)
      end
   end)

   it("refuses extra headers that would shadow the signature or the framing", function()
      local cases = {{hmac_client(), {"X-API-Key", "x-signature", "X-Timestamp", "Host"}},
                     {jwt_client(), {"authorization", "Content-Length"}},
                     {wm_client(), {"X-Message-Signature", "Transfer-Encoding"}}}
      local before = sent("/h")
      for _, case in ipairs(cases) do
         for _, name in ipairs(case[2]) do
            local res, err = case[1]:request("POST", "/h", {body = "{}", headers = {[name] = "7"}})
            assert.is_nil(res)
            assert.equals("argument_error", err.kind)
            assert.matches(name, err.message, 1, true)
         end
      end
      assert.equals(before, sent("/h"))
   end)

   it("refuses a NUL in an extra header before sending (the core's rule)", function()
      local c = hmac_client()
      local before = sent("/h")
      for _, headers in ipairs{{["X-Request-Id"] = "abc\0def"}, {["X-Request\0-Id"] = "abc"},
                               {["X-Request-Id"] = {"abc", "d\0"}}} do
         for _, opts in ipairs{{body = "{}", headers = headers}, {json = {}, headers = headers}} do
            local res, err = c:request("POST", "/h", opts)
            assert.is_nil(res)
            assert.equals("argument_error", err.kind)
            assert.matches("NUL", err.message, 1, true)
         end
      end
      assert.equals(before, sent("/h"))
   end)

   it("turns a redirect into an http_error with status and location", function()
      local jwt = jwt_client()
      local wm = wm_client()
      local calls = {
         {"/query", function() return jwt:query("list_client_accounts", {}) end},
         {"/command", function() return jwt:command("update_display_currency",
                                                    {displayCurrency = "USD"}) end},
         {"/access/get_address", function() return wm:call("POST", "/access/get_address", {}) end},
      }
      for _, case in ipairs(calls) do
         H.mock_post("/_mock/faults", {path = case[1], faults = {"redirect:302"}})
         local r, err = case[2]()
         assert.is_nil(r)
         assert.equals("http_error", err.kind)
         assert.equals(302, err.status)
         assert.equals("https://elsewhere.example/moved", err.location)
      end
      H.mock_post("/_mock/faults", {path = "/query", faults = {"redirect:307"}})
      local res = assert(jwt:request("POST", "/query", {json = {name = "list_client_accounts",
                                                                payload = {}}}))
      assert.equals(307, res.status)
      assert.equals("https://elsewhere.example/moved", res.headers.location)
   end)

   it("verifies every answer with the response_verifier, not only call()'s", function()
      local good = assert(ws.message_verifier{trusted = {info.wallet_manager_address}})
      local wm = wm_client{response_verifier = good}
      local res = assert(wm:request("POST", "/access/get_address",
                                    {json = {chain_type = "ETH", chain_id = "1"}}))
      assert.equals(200, res.status)
      H.mock_post("/_mock/faults", {path = "/access/get_address", faults = {"status:503"}})
      local r, err = wm:request("POST", "/access/get_address", {json = {}})
      assert.is_nil(r)
      assert.equals("invalid", err.kind)
      assert.equals("missing_header", err.reason)
      assert.equals(503, err.status)
      local jwt = jwt_client{response_verifier = good}
      for _, call in ipairs{function() return jwt:query("list_client_accounts", {}) end,
                            function() return jwt:command("update_display_currency",
                                                          {displayCurrency = "USD"}) end} do
         r, err = call()
         assert.is_nil(r)
         assert.equals("invalid", err.kind)
         assert.equals("missing_header", err.reason)
      end
   end)
end)

-- The nginx end-to-end cases, driven from the luajit command line (run by
-- tests/nginx/run.sh, which prepares the prefix, the mock server and the
-- nginx.conf of docs/openresty.md, and stops everything afterwards).
-- This process signs callbacks with walletsign itself and talks HTTP through
-- curl; nginx signs and verifies with walletsign.nginx.
local ws = require "walletsign"

local H = require "harness"
local E = H.nginx_env()
local DIR, BASE, WORK, mock = E.dir, E.base, E.work, E.mock
local read, write, shq = H.read, H.write, H.shq
local check, eq = H.check, H.eq

local MOCK = mock.url

---------------------------------------------------------------- HTTP via curl

local web = H.http_client{work = WORK, max_time = 20}
-- http(method, url, {headers=, header_list=, body=}) -> status, body, headers (lower-case names)
local function http(method, url, opts)
   local status, body, _, headers = web.request(method, url, opts)
   return status, body, headers
end

local json = H.json
local mock_post = H.mock_poster(http, MOCK)

local function access_log()
   local lines = {}
   for line in (read(DIR .. "/logs/access.log") or ""):gmatch("[^\n]+") do
      local pid, status, method, uri, verdict = line:match("^(%d+) (%d+) (%S+) (%S+) ?(%S*)")
      if pid then
         lines[#lines + 1] = {pid = pid, status = tonumber(status), method = method, uri = uri, verdict = verdict}
      end
   end
   return lines
end

local function count_uri(uri)
   local n = 0
   for _, line in ipairs(access_log()) do
      if line.uri == uri then n = n + 1 end
   end
   return n
end

-- The access log lines for uri so far. nginx logs after answering, so the
-- line of the request just answered may still be on its way: wait until
-- the count holds still (else the next line counted would be that one).
local function count_access(uri)
   local n = count_uri(uri)
   for _ = 1, 50 do
      os.execute("sleep 0.02")
      local again = count_uri(uri)
      if again == n then return n end
      n = again
   end
   return n
end

-- The (k)th access log line for uri. nginx logs after answering, so the
-- line may lag behind curl's return: wait for it.
local function access_line(uri, k)
   for _ = 1, 100 do
      local n = 0
      for _, line in ipairs(access_log()) do
         if line.uri == uri then
            n = n + 1
            if n == k then return line end
         end
      end
      os.execute("sleep 0.02")
   end
   error("no access log line #" .. k .. " for " .. uri)
end

---------------------------------------------------------------- credentials

-- Halogen: a P-256 key registered with the mock from its CSR.
local halogen_key, halogen_key_path, reg =
   H.register_halogen(http, MOCK, DIR, "nginx-gateway", {["Content-Type"] = "application/pkcs10"})

-- A second callback signer: this command line, with walletsign itself.
local cli_key = assert(ws.key.generate("secp256k1"))
local cli_auth = assert(ws.message_auth{key = cli_key})

local env = {
   HALOGEN_KEY_ID = reg.key_id,
   HALOGEN_KEY_PATH = halogen_key_path,
   HMAC_API_KEY = mock.hmac_api_key,
   HMAC_SECRET = mock.hmac_secret,
   MERCHANT_KEY_HEX = mock.merchant_private_key_hex,
   WALLET_MANAGER_ADDRESSES = mock.wallet_manager_address .. "," .. cli_key:address(),
}
-- The start of nginx's command line. nginx must not inherit this script's
-- LUA_PATH/LUA_CPATH: the ";;" of lua_package_path would take them as the
-- default paths, and the paths nginx.conf names would go untested.
local function env_command()
   return {"env", "-u", "LUA_PATH", "-u", "LUA_CPATH"}
end

---------------------------------------------------------------- test-only servers

-- conf.d/test.conf: a second gateway whose upstream is an nginx "echo" that
-- verifies with walletsign's own verifiers, and a location that checks the
-- client refuses to block a worker.
local PORT2, PORT3 = assert(os.getenv("WS_NGINX_PORT2")), assert(os.getenv("WS_NGINX_PORT3"))
local public_path = WORK .. "/halogen_public.pem"
write(public_path, assert(halogen_key:public_pem()))
local function lua_str(s) return string.format("%q", s) end
write(DIR .. "/conf.d/test.conf", ([[
error_log DIRECTORY/logs/error.log warn;
error_log DIRECTORY/logs/info.log info;
init_worker_by_lua_block {
    local ws = require "walletsign"
    package.loaded.walletsign_echo = {
        hmac = assert(ws.hmac_verifier{secrets = {[HMAC_KEY] = HMAC_SECRET}}),
        jwt_key = assert(ws.key.load(PUBLIC_PEM)),
        msg = assert(ws.message_verifier{trusted = {MERCHANT}}),
    }
}
server {
    listen 127.0.0.1:PORT2 reuseport;
    location /hmac/ {
        access_by_lua_block { require("walletsign.nginx").sign_upstream(gateway.hmac) }
        proxy_pass http://127.0.0.1:PORT3;
    }
    location /jwt/ {
        access_by_lua_block { require("walletsign.nginx").sign_upstream(gateway.halogen) }
        proxy_pass http://127.0.0.1:PORT3;
    }
    location /msg/ {
        access_by_lua_block { require("walletsign.nginx").sign_upstream(gateway.merchant) }
        proxy_pass http://127.0.0.1:PORT3;
    }
    location = /guard {
        content_by_lua_block {
            local ws = require "walletsign"
            local ok, err = pcall(ws.client, {base_url = "http://127.0.0.1:1", auth = gateway.hmac})
            ngx.say(ok and "allowed" or tostring(err))
        }
    }
}
server {
    listen 127.0.0.1:PORT3;
    location / {
        content_by_lua_block {
            local ws = require "walletsign"
            local echo = package.loaded.walletsign_echo
            local body = assert(require("walletsign.nginx").read_body())
            local headers, uri = ngx.req.get_headers(), ngx.var.request_uri
            local who, err
            if uri:sub(1, 6) == "/hmac/" then
                who, err = echo.hmac:verify(ngx.req.get_method(), uri, headers, body)
            elseif uri:sub(1, 5) == "/jwt/" then
                local token = (headers["authorization"] or ""):match("^Bearer (.+)$") or ""
                local claims
                claims, err = ws.verify_jwt(token, echo.jwt_key, {uri = uri, body = body})
                who = claims and claims.kid
            else
                local m
                m, err = echo.msg:verify(headers, body)
                who = m and (m.address .. " " .. m.session .. " " .. m.sequence)
            end
            if not who then
                ngx.status = 401
                ngx.say(tostring(err))
                return
            end
            ngx.say(who, " ", #body)
        }
    }
}
]]):gsub("DIRECTORY", (DIR:gsub("%%", "%%%%"))):gsub("PORT2", PORT2):gsub("PORT3", PORT3)
   :gsub("HMAC_KEY", lua_str(mock.hmac_api_key)):gsub("HMAC_SECRET", lua_str(mock.hmac_secret))
   :gsub("PUBLIC_PEM", lua_str(public_path)):gsub("MERCHANT", lua_str(mock.merchant_address)))

---------------------------------------------------------------- nginx

local function start_nginx()
   local parts = env_command()
   for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. shq(v) end
   local cmd = table.concat(parts, " ") ..
               string.format(" /usr/sbin/nginx -p %s -c %s -e %s", shq(DIR), shq(DIR .. "/nginx.conf"),
                             shq(DIR .. "/logs/error.log"))
   local t = io.popen("cd " .. shq(DIR) .. " && " .. table.concat(parts, " ") ..
                      string.format(" /usr/sbin/nginx -t -p %s -c %s -e %s 2>&1", shq(DIR),
                                    shq(DIR .. "/nginx.conf"), shq(DIR .. "/logs/error.log")))
   local test_out = t:read("*a")
   t:close()
   assert(test_out:find("test is successful", 1, true), "nginx -t: " .. test_out)
   local p = io.popen(cmd .. " 2>&1")
   local out = p:read("*a")
   p:close()
   for _ = 1, 100 do
      local status = http("GET", BASE .. "/nonexistent")
      if status == 404 then return end
      os.execute("sleep 0.1")
   end
   error("nginx did not start: " .. out .. (read(DIR .. "/logs/error.log") or ""))
end

local function replace_plain(text, old, new)
   local i, j = text:find(old, 1, true)
   assert(i, "not found: " .. old)
   return text:sub(1, i - 1) .. new .. text:sub(j + 1)
end

-- Before the real instance starts: the documented nginx.conf with a key
-- file that is not there must stop nginx with a message a person can read.
check("a key file that cannot be read stops nginx with a readable error", function()
   local missing = WORK .. "/missing-halogen.pem"
   local bad_log, bad_pid = WORK .. "/bad-error.log", WORK .. "/bad.pid"
   local conf = assert(read(DIR .. "/nginx.conf"))
   conf = replace_plain(conf, DIR .. "/logs/nginx.pid", bad_pid)
   conf = replace_plain(conf, DIR .. "/logs/error.log", bad_log)
   write(WORK .. "/bad.conf", conf)
   local parts = env_command()
   for k, v in pairs(env) do
      parts[#parts + 1] = k .. "=" .. shq(k == "HALOGEN_KEY_PATH" and missing or v)
   end
   local p = io.popen("cd " .. shq(DIR) .. " && " .. table.concat(parts, " ") ..
                      string.format(" /usr/sbin/nginx -p %s -c %s -e %s 2>&1", shq(DIR),
                                    shq(WORK .. "/bad.conf"), shq(bad_log)))
   local out = p:read("*a")
   p:close()
   local pid = read(bad_pid)
   if pid then os.execute("kill -QUIT " .. pid:match("%d+")) end
   assert(not pid, "nginx started without its key")
   local log = (read(bad_log) or "") .. out
   assert(log:find("init_by_lua error", 1, true), "no init_by_lua error in: " .. log)
   assert(log:find("walletsign io_error: cannot open " .. missing, 1, true), "unreadable error: " .. log)
   assert(not log:find("unknown error", 1, true), log)
end)

local started = pcall(start_nginx)
check("nginx starts with the documented nginx.conf and 2 workers", function()
   assert(started, read(DIR .. "/logs/error.log") or "no error.log")
   local master = assert(read(DIR .. "/logs/nginx.pid")):match("%d+")
   -- the workers are the master's children (read from /proc: no procps needed)
   local p = io.popen("grep -l '^PPid:[[:space:]]*" .. master .. "$' /proc/[0-9]*/status 2>/dev/null")
   local workers = {}
   for path in p:read("*a"):gmatch("%S+") do workers[#workers + 1] = path end
   p:close()
   eq(2, #workers, "worker processes")
   -- a root master runs its workers as nobody: the module path must be readable by them
   if (read("/proc/" .. master .. "/status") or ""):match("\nUid:%s+0%s") then
      local nobody = io.popen("id -u nobody"):read("*l")
      for _, status in ipairs(workers) do
         eq(nobody, (read(status) or ""):match("\nUid:%s+(%d+)"), "worker uid")
      end
   end
end)
if not started then
   H.finish(1)
end

---------------------------------------------------------------- gateway: sign_upstream

check("hmac: GET with a query string is signed and accepted upstream", function()
   local status, body = http("GET", BASE .. "/v1/wallet/list?skip=0&take=3&orderBy=asc")
   eq(200, status, body)
   eq(3, #json(body).data, "wallets")
end)

check("hmac: POST body is signed and accepted upstream", function()
   local status, body = http("POST", BASE .. "/v1/wallet/create", {body = '{"name":"via nginx"}'})
   eq(200, status, body)
   eq("via nginx", json(body).name, "name")
end)

check("hmac: a body spooled to a file (> client_body_buffer_size) is signed", function()
   local big = '{"name":"spooled","pad":"' .. string.rep("x", 200000) .. '"}'
   local status, body = http("POST", BASE .. "/v1/wallet/create", {body = big})
   eq(200, status, body)
   eq("spooled", json(body).name, "name")
   local log = read(DIR .. "/logs/error.log") or ""
   assert(log:find("buffered to a temporary file", 1, true), "nginx did not spool the body")
end)

check("jwt: Halogen /query gets an ES256 token the mock accepts", function()
   local status, body = http("POST", BASE .. "/query", {body = '{"name":"list_client_accounts","payload":{}}'})
   eq(200, status, body)
   status, body = http("POST", BASE .. "/query", {body = '{"name":"get_client_profile","payload":{}}'})
   eq(200, status, body)
end)

check("jwt: a client's own Authorization header is replaced, not forwarded", function()
   local status, body = http("POST", BASE .. "/query", {body = '{"name":"list_client_accounts","payload":{}}',
                                                        headers = {Authorization = "Bearer forged"}})
   eq(200, status, body)
end)

check("message: each worker signs Wallet Manager requests with its own session", function()
   local sessions, pids = {}, {}
   local n_sessions, n_pids = 0, 0
   local before = count_access("/access/get_address")
   for i = 1, 40 do
      local status, body = http("POST", BASE .. "/access/get_address",
                                {body = '{"chain_type":"ETH","chain_id":"1","user_id":"u' .. i .. '"}'})
      eq(200, status, body)
      local result = assert(ws.rpc_parse(body))
      assert(result.address:match("^0x%x+$"), "address")
      local line = access_line("/access/get_address", before + i)
      if not pids[line.pid] then pids[line.pid] = true; n_pids = n_pids + 1 end
      if i >= 8 and n_pids >= 2 then break end
   end
   local status, logtext = http("GET", MOCK .. "/_mock/log")
   eq(200, status, "mock log")
   for _, e in ipairs(json(logtext)) do
      if e.path == "/access/get_address" then
         local s
         for k, v in pairs(e.headers) do if k:lower() == "x-message-session" then s = v end end
         if s and not sessions[s] then sessions[s] = true; n_sessions = n_sessions + 1 end
      end
   end
   eq(2, n_pids, "workers that served requests")
   eq(n_pids, n_sessions, "distinct sessions")
end)

---------------------------------------------------------------- gateway -> nginx echo

local GW = "http://127.0.0.1:" .. PORT2

check("echo: hmac signed by sign_upstream verifies with ws.hmac_verifier in nginx", function()
   local status, body = http("GET", GW .. "/hmac/wallets?skip=0&take=2")
   eq(200, status, body)
   eq(mock.hmac_api_key .. " 0", body:match("^(.-)%s*$"), "echo")
   local big = string.rep("z", 50000)
   status, body = http("POST", GW .. "/hmac/upload", {body = big})
   eq(200, status, body)
   eq(mock.hmac_api_key .. " 50000", body:match("^(.-)%s*$"), "echo")
end)

check("echo: jwt signed by sign_upstream verifies with ws.verify_jwt in nginx", function()
   local status, body = http("POST", GW .. "/jwt/query", {body = '{"name":"x","payload":{}}'})
   eq(200, status, body)
   eq(reg.key_id, body:match("^(%S+)"), "kid")
end)

check("echo: message signed by sign_upstream verifies with ws.message_verifier in nginx", function()
   for _ = 1, 4 do
      local status, body = http("POST", GW .. "/msg/callback", {body = '{"n":1}'})
      eq(200, status, body)
      eq(mock.merchant_address, body:match("^(%S+)"), "address")
   end
end)

check("ws.client refuses to run inside a request handler", function()
   local status, body = http("GET", GW .. "/guard")
   eq(200, status, body)
   assert(body:find("would block the nginx worker in the content phase", 1, true), body)
end)

---------------------------------------------------------------- callbacks: verify_callback

local CALLBACK = BASE .. "/wallet/callback"

local function mock_callback(extra)
   local doc = {url = CALLBACK, type = "deposit_status",
                data = {address = "0x8F9092CE573e41d72378Cf8c9d3335584e6843F1", amount = "1.5",
                        txid = "0x" .. string.rep("ab", 32)}}
   for k, v in pairs(extra or {}) do doc[k] = v end
   return mock_post("/_mock/wm/callback", doc)
end

local function expect_rejected(status, body, reason)
   eq(401, status, "status")
   local res, err = ws.rpc_parse(body)
   assert(res == nil, "expected a JSON-RPC error body, got " .. body)
   eq(401, err.rpc_code, "rpc code")
   eq("401", err.code, "code as text")
   eq(reason, err.data.reason, "reason")
end

local first -- the accepted callback: {headers, body, pid}

check("a callback signed by the Wallet Manager is accepted", function()
   local before = count_access("/wallet/callback")
   local r = mock_callback()
   eq(200, r.status, r.body)
   local result = assert(ws.rpc_parse(r.body))
   eq(true, result.received, "received")
   eq(mock.wallet_manager_address, result.address, "sender")
   local line = access_line("/wallet/callback", before + 1)
   eq(200, line.status, "logged status")
   first = {headers = r.sent.headers, body = r.sent.body, pid = line.pid}
end)

check("the same callback replayed by the Wallet Manager is refused", function()
   local r = mock_callback{replay_last = true}
   expect_rejected(r.status, r.body, "replay")
end)

check("the same callback replayed to the other worker is refused", function()
   assert(first, "no accepted callback")
   local other
   for _ = 1, 40 do
      local before = count_access("/wallet/callback")
      local status, body = http("POST", CALLBACK, {headers = first.headers, body = first.body})
      expect_rejected(status, body, "replay")
      local line = access_line("/wallet/callback", before + 1)
      eq(401, line.status, "logged status")
      if line.pid ~= first.pid then other = line.pid; break end
   end
   assert(other, "no replay reached the other worker")
end)

check("a tampered callback body is refused (bad_signature)", function()
   local r = mock_callback{tamper = true}
   expect_rejected(r.status, r.body, "bad_signature")
end)

check("a callback from an untrusted signer is refused (untrusted_address)", function()
   local r = mock_callback{untrusted_signer = true}
   expect_rejected(r.status, r.body, "untrusted_address")
end)

check("a stale callback is refused (stale_timestamp)", function()
   local r = mock_callback{timestamp_offset_ms = -180000}
   expect_rejected(r.status, r.body, "stale_timestamp")
end)

check("a callback without its signature header is refused (missing_header)", function()
   local r = mock_callback{omit_headers = {"X-Message-Signature"}}
   expect_rejected(r.status, r.body, "missing_header")
end)

check("more than 100 headers: refused as too_many_headers (431), not missing_header", function()
   local body = '{"type":"operation_status","data":{"operation_id":"43","status":"done"}}'
   local signed = assert(cli_auth:sign("POST", "/wallet/callback", body))
   -- the signature headers come after the padding, past get_headers' default 100
   local function with_padding(n)
      local list = {}
      for i = 1, n do list[#list + 1] = {"X-Padding-" .. i, "p"} end
      for name, value in pairs(signed) do list[#list + 1] = {name, value} end
      return list
   end
   local before = count_access("/wallet/callback")
   local status, text = http("POST", CALLBACK, {header_list = with_padding(120), body = body})
   eq(431, status, text)
   local res, err = ws.rpc_parse(text)
   assert(res == nil, "expected a JSON-RPC error body, got " .. text)
   eq("too_many_headers", err.data.reason, "reason")
   eq("too_many_headers", access_line("/wallet/callback", before + 1).verdict, "$walletsign_verdict")
   -- the same signed callback within the limit is accepted (nothing was recorded)
   status, text = http("POST", CALLBACK, {header_list = with_padding(80), body = body})
   eq(200, status, text)
end)

-- Metrics: the /metrics page parsed into {["name{labels}"] = value}.
local function metrics()
   local status, text, headers = http("GET", BASE .. "/metrics")
   eq(200, status, text)
   assert((headers["content-type"] or ""):find("text/plain; version=0.0.4", 1, true), headers["content-type"])
   local values, typed = {}, {}
   for line in text:gmatch("[^\n]+") do
      local metric = line:match("^# TYPE (%S+) counter$")
      if metric then
         typed[metric] = true
      elseif not line:find("^# HELP %S+ .") then
         local name, value = line:match("^([%w_]+{[^}]*}) (%d+)$")
         assert(name, "not a sample line: " .. line)
         assert(typed[name:match("^[%w_]+")], "sample before its # TYPE: " .. line)
         values[name] = tonumber(value)
      end
   end
   assert(typed.walletsign_callbacks_total and typed.walletsign_upstream_signed_total, text)
   return values
end

local function delta(before, after, name)
   return (after[name] or 0) - (before[name] or 0)
end

local observed -- the accepted, replayed and tampered callbacks of the next check

check("accepted, replayed and tampered callbacks: each answered and counted in /metrics", function()
   local before = metrics()
   local body = '{"type":"operation_status","data":{"operation_id":"44","status":"done"}}'
   local h1 = assert(cli_auth:sign("POST", "/wallet/callback", body))
   local h2 = assert(cli_auth:sign("POST", "/wallet/callback", body))
   local first_line = count_access("/wallet/callback") + 1
   eq(200, (http("POST", CALLBACK, {headers = h1, body = body})), "accepted")
   eq(401, (http("POST", CALLBACK, {headers = h1, body = body})), "replayed")
   eq(401, (http("POST", CALLBACK, {headers = h1, body = body})), "replayed again")
   eq(401, (http("POST", CALLBACK, {headers = h2, body = body .. " "})), "tampered")
   observed = {h1 = h1, h2 = h2, first_line = first_line}
   local after = metrics()
   eq(1, delta(before, after, 'walletsign_callbacks_total{verdict="ok"}'), "ok")
   eq(2, delta(before, after, 'walletsign_callbacks_total{verdict="rejected",reason="replay"}'), "replay")
   eq(1, delta(before, after, 'walletsign_callbacks_total{verdict="rejected",reason="bad_signature"}'),
      "bad_signature")
end)

check("$walletsign_verdict in the access log holds ok or the reason", function()
   assert(observed, "no callbacks observed")
   local want = {"ok", "replay", "replay", "bad_signature"}
   for i, verdict in ipairs(want) do
      eq(verdict, access_line("/wallet/callback", observed.first_line + i - 1).verdict, "verdict #" .. i)
   end
end)

check("log lines name the sender, session and sequence, never the signature", function()
   assert(observed, "no callbacks observed")
   local function who(h)
      return "(address=" .. h["X-Message-Address"] .. " session=" .. h["X-Message-Session"] ..
             " sequence=" .. h["X-Message-Sequence"] .. ")"
   end
   local errors, infos = read(DIR .. "/logs/error.log") or "", read(DIR .. "/logs/info.log") or ""
   assert(infos:find("%[info%][^\n]*walletsign: callback accepted " .. who(observed.h1):gsub("%p", "%%%0")),
          "no info line for the accepted callback")
   assert(errors:find("%[warn%][^\n]*walletsign: callback rejected: replay: [^\n]*" ..
                      who(observed.h1):gsub("%p", "%%%0")), "replay line without the sender")
   assert(errors:find("%[warn%][^\n]*walletsign: callback rejected: bad_signature: [^\n]*" ..
                      who(observed.h2):gsub("%p", "%%%0")), "bad_signature line without the sender")
   for _, h in ipairs{observed.h1, observed.h2} do
      local sig = h["X-Message-Signature"]
      assert(not errors:find(sig, 1, true) and not infos:find(sig, 1, true), "a signature was logged")
   end
end)

check("metrics count every callback the access log shows, by verdict", function()
   local values = metrics()
   local lines, from_log = 0, {}
   for _, line in ipairs(access_log()) do
      if line.uri == "/wallet/callback" then
         lines = lines + 1
         from_log[line.verdict] = (from_log[line.verdict] or 0) + 1
      end
   end
   local counted = 0
   for name, value in pairs(values) do
      if name:find("^walletsign_callbacks_total") then
         local reason = name:match('reason="([^"]*)"') or name:match('verdict="(ok)"')
         eq(from_log[reason] or 0, value, name)
         counted = counted + value
      end
   end
   eq(lines, counted, "callbacks counted")
end)

check("metrics count signed upstream requests by protocol", function()
   local before = metrics()
   eq(200, (http("GET", BASE .. "/v1/wallet/list?skip=0&take=1")), "hmac")
   eq(200, (http("POST", BASE .. "/query", {body = '{"name":"list_client_accounts","payload":{}}'})), "jwt")
   eq(200, (http("POST", BASE .. "/access/get_address", {body = '{"chain_type":"ETH","chain_id":"1"}'})),
      "message")
   local after = metrics()
   for _, protocol in ipairs{"hmac", "jwt", "message"} do
      eq(1, delta(before, after, 'walletsign_upstream_signed_total{protocol="' .. protocol .. '",verdict="ok"}'),
         protocol)
   end
end)

check("a callback signed by walletsign from the luajit command line is accepted", function()
   local body = '{"type":"operation_status","data":{"operation_id":"42","status":"done"}}'
   local headers = assert(cli_auth:sign("POST", "/wallet/callback", body))
   local status, text = http("POST", CALLBACK, {headers = headers, body = body})
   eq(200, status, text)
   eq(cli_key:address(), assert(ws.rpc_parse(text)).address, "sender")
   status, text = http("POST", CALLBACK, {headers = headers, body = body})
   expect_rejected(status, text, "replay")
end)

check("a large callback (spooled by nginx) verifies, and its tampered copy does not", function()
   local body = '{"type":"deposit_status","data":{"pad":"' .. string.rep("y", 100000) .. '"}}'
   local headers = assert(cli_auth:sign("POST", "/wallet/callback", body))
   local status, text = http("POST", CALLBACK, {headers = headers, body = body})
   eq(200, status, text)
   local h2 = assert(cli_auth:sign("POST", "/wallet/callback", body))
   status, text = http("POST", CALLBACK, {headers = h2, body = body:sub(1, -3) .. "Y" .. body:sub(-2)})
   expect_rejected(status, text, "bad_signature")
end)

check("rejections are logged at warn with their reason; no errors logged", function()
   local log = read(DIR .. "/logs/error.log") or ""
   for _, reason in ipairs{"replay", "bad_signature", "untrusted_address", "stale_timestamp", "missing_header"} do
      assert(log:find("%[warn%][^\n]*walletsign: callback rejected: " .. reason),
             "no warn line for " .. reason)
   end
   for line in log:gmatch("[^\n]+") do
      local probe = line:find("GET /nonexistent", 1, true) -- the start-up probe's 404
      assert(probe or not line:find("%[error%]") and not line:find("%[crit%]") and not line:find("%[alert%]")
             and not line:find("%[emerg%]"), "unexpected: " .. line)
   end
end)

H.finish()

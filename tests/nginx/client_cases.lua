-- The cases of walletsign.nginx's client, driven from the luajit command
-- line (run by tests/nginx/client.sh, which prepares the prefix, the mock
-- server in HTTPS mode and the nginx.conf of docs/openresty.md "Calling the
-- APIs from a handler", and stops everything afterwards). HTTP goes
-- through curl; the mock (an independent verifier) judges what nginx sent.
local ws = require "walletsign"

local H = require "harness"
local E = H.nginx_env()
local DIR, BASE, WORK, mock = E.dir, E.base, E.work, E.mock
local read, write, shq = H.read, H.write, H.shq
local check, eq = H.check, H.eq

local MOCK, CA = mock.url, mock.ca_file

---------------------------------------------------------------- HTTP via curl

local function now()
   local p = io.popen("date +%s.%N")
   local t = tonumber(p:read("*l"))
   p:close()
   return t
end

local web = H.http_client{work = WORK, max_time = 30, cacert = CA}
-- http(method, url, opts) -> status, body, seconds
local function http(method, url, opts)
   local status, body, seconds = web.request(method, url, opts)
   return status, body, seconds
end

-- Several requests at once: {{method, url, opts}, ...} -> {{status, body, seconds, headers}, ...}
local http_parallel = web.parallel

local json = H.json
local mock_post = H.mock_poster(http, MOCK)

local function mock_get(path)
   local status, body = http("GET", MOCK .. path)
   eq(200, status, "mock " .. path)
   return json(body)
end

local function mock_log(path)
   local out = {}
   for _, entry in ipairs(mock_get("/_mock/log")) do
      if entry.path == path then out[#out + 1] = entry end
   end
   return out
end

-- A test location's JSON answer, checked for success.
local function get_ok(path)
   local status, body, t = http("GET", BASE .. path)
   eq(200, status, path .. " " .. body)
   local doc = json(body)
   assert(doc.ok, path .. ": " .. (doc.err and doc.err.text or body))
   return doc, t
end

local function get_err(path)
   local status, body = http("GET", BASE .. path)
   eq(200, status, path .. " " .. body)
   local doc = json(body)
   assert(not doc.ok, path .. " succeeded: " .. body)
   return doc.err
end

---------------------------------------------------------------- credentials

local _, halogen_key_path, reg = H.register_halogen(http, MOCK, DIR, "nginx-client")

local env = {
   HALOGEN_KEY_ID = reg.key_id,
   HALOGEN_KEY_PATH = halogen_key_path,
   MERCHANT_KEY_HEX = mock.merchant_private_key_hex,
   WALLET_MANAGER_ADDRESSES = mock.wallet_manager_address,
}

---------------------------------------------------------------- test locations

local MOCK_PORT = tostring(mock.port)
local function internal_location(name, target, trusted)
   return ([[
location NAME {
    internal;
    set $walletsign_target "";
    rewrite_by_lua_block { require("walletsign.nginx_client").prepare() }
    header_filter_by_lua_block { require("walletsign.nginx_client").header_filter() }
    proxy_pass TARGET$walletsign_target;
    proxy_set_header Host $http_host;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_next_upstream off;
    proxy_ssl_server_name on;
    proxy_ssl_name localhost;
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate TRUSTED;
    proxy_connect_timeout 2s;
    proxy_read_timeout 5s;
}
]]):gsub("NAME", name):gsub("TARGET", target):gsub("TRUSTED", trusted)
end

local function handler(path, code)
   return "location = " .. path .. " { content_by_lua_block { " .. code .. " } }\n"
end

local refused_port
do -- a port nothing listens on
   local p = io.popen("/usr/bin/python3 -c 'import socket; s = socket.socket(); "
                      .. "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")
   refused_port = p:read("*l")
   p:close()
end

write(DIR .. "/conf.d/test.conf",
   handler("/t/ping", 'ngx.say("pong")')
   .. handler("/t/query", 'require("client_handlers").query()')
   .. handler("/t/command", 'require("client_handlers").command()')
   .. handler("/t/rpc", 'require("client_handlers").rpc()')
   .. handler("/t/request", 'require("client_handlers").request()')
   .. handler("/t/timer", 'require("client_handlers").timer()')
   .. "location = /t/access { access_by_lua_block { require('client_handlers').query() } }\n"
   .. "location = /t/rewrite { rewrite_by_lua_block { require('client_handlers').query() } }\n"
   .. handler("/t/wrongca", 'require("client_handlers").client_at("/_t/wrongca", {retries = 0})')
   .. handler("/t/refused", 'require("client_handlers").client_at("/_t/refused", {retries = 1, backoff = 0.05})')
   .. handler("/t/hmac", 'require("client_handlers").hmac_target()')
   .. internal_location("/_t/hmac", "https://127.0.0.1:" .. MOCK_PORT, CA)
   .. internal_location("/_t/wrongca", "https://127.0.0.1:" .. MOCK_PORT, "/etc/ssl/certs/ca-certificates.crt")
   .. internal_location("/_t/refused", "https://127.0.0.1:" .. refused_port, CA)
   -- reachable from outside, to prove prepare() refuses what is not the client's
   .. "location /_t/open { set $walletsign_target ''; rewrite_by_lua_block { require('walletsign.nginx_client').prepare() } content_by_lua_block { ngx.say('sent') } }\n")

---------------------------------------------------------------- nginx

local function nginx(args)
   local parts = {"env", "-u", "LUA_PATH", "-u", "LUA_CPATH"}
   for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. shq(v) end
   local p = io.popen("cd " .. shq(DIR) .. " && " .. table.concat(parts, " ") ..
                      string.format(" /usr/sbin/nginx %s -p %s -c %s -e %s 2>&1", args, shq(DIR),
                                    shq(DIR .. "/nginx.conf"), shq(DIR .. "/logs/error.log")))
   local out = p:read("*a")
   p:close()
   return out
end

local function workers_of(master)
   local p = io.popen("grep -l '^PPid:[[:space:]]*" .. master .. "$' /proc/[0-9]*/status 2>/dev/null")
   local list = {}
   for path in p:read("*a"):gmatch("%S+") do list[#list + 1] = path end
   p:close()
   return list
end

local function start_nginx(workers)
   local conf = assert(read(DIR .. "/nginx.conf"))
   write(DIR .. "/nginx.conf", (conf:gsub("\nworker_processes %d+;", "\nworker_processes " .. workers .. ";")))
   local t = nginx("-t")
   assert(t:find("test is successful", 1, true), "nginx -t: " .. t)
   local out = nginx("")
   for _ = 1, 100 do
      if http("GET", BASE .. "/t/ping") == 200 then
         local master = assert(read(DIR .. "/logs/nginx.pid")):match("%d+")
         for _ = 1, 50 do
            if #workers_of(master) == workers then return end
            os.execute("sleep 0.1")
         end
         error("nginx runs " .. #workers_of(master) .. " workers, not " .. workers)
      end
      os.execute("sleep 0.1")
   end
   error("nginx did not start: " .. out .. (read(DIR .. "/logs/error.log") or ""))
end

local function stop_nginx()
   local pid = (read(DIR .. "/logs/nginx.pid") or ""):match("%d+")
   if not pid then return end
   os.execute("kill -QUIT " .. pid)
   for _ = 1, 100 do
      if not read(DIR .. "/logs/nginx.pid") then return end
      os.execute("sleep 0.05")
   end
end

local started, why = pcall(start_nginx, 1)
check("nginx starts with the documented client nginx.conf (1 worker)", function()
   assert(started, tostring(why) .. "\n" .. (read(DIR .. "/logs/error.log") or ""))
end)
if not started then
   H.finish()
end

---------------------------------------------------------------- one worker

check("the documented handler queries Halogen and asks the Wallet Manager, over verified TLS", function()
   local status, body = http("GET", BASE .. "/profile")
   eq(200, status, body)
   local doc = assert(ws.rpc_parse(body))
   eq("Test Client", doc.name, "profile name")
   assert(doc.deposit_address:match("^0x%x+$"), body)
   local log = mock_log("/query")
   eq("jwt:ES256:der:" .. reg.key_id, log[#log].verified_by, "the mock verified the JWT")
   log = mock_log("/access/get_address")
   eq("message:" .. mock.merchant_address, log[#log].verified_by, "the mock verified the message")
end)

check("query, command and call answer as ws.client does", function()
   local doc = get_ok("/t/query?name=list_client_accounts")
   eq("MYR", doc.result.asset, "asset")
   doc = get_ok("/t/command?key=k-" .. os.time())
   assert(doc.result.requestId, "requestId")
   doc = get_ok("/t/rpc")
   assert(doc.result.address:match("^0x"), "address")
end)

check("the access and rewrite phases can call too", function()
   eq("MYR", get_ok("/t/access?name=list_client_accounts").result.asset, "access")
   eq("MYR", get_ok("/t/rewrite?name=list_client_accounts").result.asset, "rewrite")
end)

check("a failed answer is a typed http_error with the API's code and the call's context", function()
   local err = get_err("/t/query?name=no_such_operation")
   eq("http_error", err.kind, "kind")
   eq(400, err.http_status, "http_status")
   eq("ErrInvalidParameter", err.code, "code")
   assert(err.message:find("(POST /query, 1 attempt,", 1, true), err.message)
end)

check("none of the caller's request headers reach the API; the signed ones do", function()
   local status, body = http("GET", BASE .. "/t/query", {headers = {
      Cookie = "session=secret", ["X-Leak"] = "yes", Authorization = "Bearer caller",
      ["X-Forwarded-For"] = "10.9.9.9"}})
   eq(200, status, body)
   assert(json(body).ok, body)
   local log = mock_log("/query")
   local allowed = {host = true, authorization = true, ["content-type"] = true, accept = true,
                    ["user-agent"] = true, ["content-length"] = true, connection = true}
   for name, value in pairs(log[#log].headers) do
      assert(allowed[name:lower()], "sent upstream: " .. name .. ": " .. tostring(value))
      assert(not tostring(value):find("caller", 1, true), name .. " leaked")
   end
   assert(tostring(log[#log].headers.Authorization or log[#log].headers.authorization):match("^Bearer ey"),
          "the signed Authorization")
   assert(tostring(log[#log].headers["User-Agent"] or ""):find("(nginx)", 1, true), "User-Agent")
end)

check("the request target arrives byte for byte as signed (query, %-escapes, dot segments)", function()
   local base = "https://localhost:" .. MOCK_PORT
   local function escape(s) return (s:gsub("[^%w]", function(ch) return string.format("%%%02X", ch:byte()) end)) end
   for _, target in ipairs{"/v1/wallet/list?skip=1&take=3&orderBy=desc",
                           "/v1/wallet/list?skip=0&take=2&orderBy=de%73c",
                           "/v1/./wallet/list?take=1"} do
      local doc = get_ok("/t/hmac?base=" .. escape(base) .. "&target=" .. escape(target))
      local log = mock_log((target:gsub("%?.*", "")))
      local last = log[#log]
      assert(last, "the mock saw no request for " .. target)
      eq(target, last.target, "the target the mock received")
      eq("hmac:test-api-key:base64", last.verified_by, "verified " .. target .. " " .. tostring(doc.result.body))
      -- the mock routes the dot segment nowhere (404), after verifying it
      eq(target:find("/./", 1, true) and 404 or 200, doc.result.status, target .. ": " .. tostring(doc.result.body))
   end
end)

check("a caller's own body (chunked, large) neither leaks into nor breaks the signed request", function()
   for _, te in ipairs{"chunked", nil} do
      local status, body = http("POST", BASE .. "/t/query?name=list_client_accounts", {
         headers = {["Transfer-Encoding"] = te}, body = '{"pad":"' .. string.rep("z", 200000) .. '"}'})
      eq(200, status, body:sub(1, 300))
      local doc = json(body)
      assert(doc.ok, body:sub(1, 300))
      eq("MYR", doc.result.asset, "the API's answer")
      local log = mock_log("/query")
      eq("jwt:ES256:der:" .. reg.key_id, log[#log].verified_by, "the mock verified the JWT")
   end
end)

check("the internal location refuses what is not the client's subrequest", function()
   local status, body = http("GET", BASE .. "/_t/open")
   eq(403, status, body)
end)

check("non-blocking: two 1 s answers take about 1 s together; another location answers meanwhile", function()
   local slow = BASE .. "/t/request?fault=delay:1000"
   local t0 = now()
   local script = {}
   local results = http_parallel({{"GET", slow}, {"GET", slow}})
   local total = now() - t0
   for i, r in ipairs(results) do
      eq(200, r[1], "slow " .. i .. " " .. r[2])
      local doc = json(r[2])
      assert(doc.ok and doc.result.status == 200, r[2])
      assert(r[3] >= 0.9, "slow " .. i .. " took " .. r[3] .. " s, under the mock's delay")
   end
   assert(total < 1.8, string.format("both took %.2f s: the worker was blocked", total))
   -- the third location during one slow call
   local mixed = http_parallel({{"GET", slow}, {"GET", BASE .. "/t/ping"}})
   eq(200, mixed[2][1], "ping")
   assert(mixed[2][3] < 0.5, string.format("ping took %.2f s during a slow call", mixed[2][3]))
   assert(mixed[1][3] >= 0.9, "the slow call was not slow")
   _ = script
end)

check("a 429 with Retry-After: 1 is waited with ngx.sleep, and the worker stays responsive", function()
   mock_post("/_mock/faults", {path = "/query", faults = {"status:429:retry_after=1"}})
   local before = #mock_log("/query")
   local results = http_parallel({{"GET", BASE .. "/t/request"}, {"GET", BASE .. "/t/ping"}})
   eq(200, results[1][1], results[1][2])
   local doc = json(results[1][2])
   assert(doc.ok, results[1][2])
   eq(200, doc.result.status, "final status")
   eq(2, doc.result.attempts, "attempts")
   assert(results[1][3] >= 0.95, "no wait: " .. results[1][3])
   assert(results[2][3] < 0.5, string.format("ping took %.2f s during the 429 wait", results[2][3]))
   local log = mock_log("/query")
   eq(before + 2, #log, "attempts the mock saw")
   eq(429, log[#log - 1].status, "first answer")
   assert(log[#log].t_ms - log[#log - 1].t_ms >= 950, "the retry came too early")
end)

check("a 503 to a query is retried; to a plain POST it is not; attempts in the error", function()
   mock_post("/_mock/faults", {path = "/query", faults = {"status:503"}})
   local before = #mock_log("/query")
   eq("MYR", get_ok("/t/query?name=list_client_accounts").result.asset, "the retried query")
   local log = mock_log("/query")
   eq(before + 2, #log, "attempts the mock saw")
   eq(503, log[#log - 1].status, "the first answer")
   mock_post("/_mock/faults", {path = "/query", faults = {"status:503"}})
   local doc = get_ok("/t/request") -- request("POST", ...) without Idempotency-Key
   eq(503, doc.result.status, "the POST's answer")
   eq(1, doc.result.attempts, "the POST's attempts")
   mock_post("/_mock/faults", {path = "/query", faults = {"status:503", "status:503", "status:503", "status:503"}})
   local err = get_err("/t/query")
   eq("http_error", err.kind, "kind")
   eq(503, err.http_status, "status")
   assert(err.message:find("(POST /query, 4 attempts,", 1, true), err.message)
   local log = read(DIR .. "/logs/error.log") or ""
   assert(log:find("%[warn%][^\n]*walletsign: retry POST /query: HTTP 503, attempt 2 in"),
          "no warn line for the retry")
end)

check("a tampered signed answer of the Wallet Manager is refused", function()
   mock_post("/_mock/faults", {path = "/access/get_address", faults = {"tamper"}})
   local err = get_err("/t/rpc")
   eq("invalid", err.kind, "kind")
   eq("bad_signature", err.reason, "reason")
   eq(200, err.http_status, "the answer's status")
   assert(get_ok("/t/rpc").result.address, "the next answer verifies")
end)

check("TLS: a server whose certificate the trusted CAs do not sign is refused", function()
   local err = get_err("/t/wrongca?base=https://localhost:" .. MOCK_PORT)
   eq("transport_error", err.kind, "kind")
   assert(err.message:find("TLS", 1, true), err.message)
   local log = read(DIR .. "/logs/error.log") or ""
   assert(log:find("certificate verify failed", 1, true) or log:find("upstream SSL certificate", 1, true),
          "nginx logged no certificate failure")
end)

check("no connection: never sent, so retried even for a command; a transport_error after", function()
   local err = get_err("/t/refused?base=https://localhost:" .. refused_port)
   eq("transport_error", err.kind, "kind")
   assert(err.message:find("no connection", 1, true), err.message)
   assert(err.message:find("2 attempts", 1, true), err.message)
end)

check("from an ngx.timer the client raises a clear error", function()
   local status, body = http("GET", BASE .. "/t/timer")
   eq(200, status, body)
   assert(body:find("a subrequest needs a request", 1, true) and body:find("timer", 1, true), body)
end)

---------------------------------------------------------------- two workers

stop_nginx()
local started2, why2 = pcall(start_nginx, 2)
check("nginx restarts with 2 workers", function()
   assert(started2, tostring(why2) .. "\n" .. (read(DIR .. "/logs/error.log") or ""))
end)

check("the rate limit is shared by 2 workers: 30 queries at once, no 429 from the mock", function()
   os.execute("sleep 1.1") -- the bucket refills
   mock_post("/_mock/reset")
   eq(200, (http("DELETE", MOCK .. "/_mock/log")), "clearing the mock's log")
   local list = {}
   for i = 1, 30 do list[i] = {"GET", BASE .. "/t/query?i=" .. i} end
   local t0 = now()
   local results = http_parallel(list)
   local total = now() - t0
   local pids = {}
   for i, r in ipairs(results) do
      eq(200, r[1], "query " .. i .. " " .. r[2])
      local doc = json(r[2])
      assert(doc.ok, r[2])
      pids[doc.pid] = true
   end
   local n_pids = 0
   for _ in pairs(pids) do n_pids = n_pids + 1 end
   eq(2, n_pids, "workers that answered")
   local stats = mock_get("/_mock/stats")["/query"] or {}
   if stats["429"] then
      local log, t0 = mock_log("/query"), nil
      local lines = {}
      for _, e in ipairs(log) do
         t0 = t0 or e.t_ms
         lines[#lines + 1] = (e.t_ms - t0) .. ":" .. tostring(e.status)
      end
      print("# " .. table.concat(lines, " "))
   end
   eq(nil, stats["429"], "429s the mock sent")
   eq(30, stats["200"], "200s the mock sent")
   assert(total >= 1.8, string.format("30 queries in %.2f s: faster than 10/s after a burst of 10", total))
end)

check("no errors in nginx's log but the expected TLS refusal", function()
   for line in (read(DIR .. "/logs/error.log") or ""):gmatch("[^\n]+") do
      local expected = line:find("/t/wrongca", 1, true) or line:find("/t/refused", 1, true)
      assert(expected or not line:find("%[error%]") and not line:find("%[crit%]")
             and not line:find("%[alert%]") and not line:find("%[emerg%]"), "unexpected: " .. line)
   end
end)

H.finish()

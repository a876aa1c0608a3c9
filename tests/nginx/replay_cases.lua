-- verify_callback with replay = {redis = ...}: the cases, driven from the
-- luajit command line (run by tests/nginx/replay.sh, which prepares two
-- prefixes, a private redis-server and the receiver.conf of
-- docs/openresty.md, and stops everything afterwards). This process signs
-- callbacks with walletsign itself, talks HTTP through curl and looks into
-- Redis with redis-cli.
local ws = require "walletsign"

local DIR = assert(os.getenv("WS_REPLAY_DIR"))
local REDIS_PORT = assert(os.getenv("WS_REDIS_PORT"))
local REDIS_PASSWORD = assert(os.getenv("WS_REDIS_PASSWORD"))
local REDIS_DB = "3"
local BAD_PASSWORD = "bad-pw-" .. tostring(os.time())
local WORK = DIR .. "/work"

local H = require "harness"
local read, write, shq, sh, sleep = H.read, H.write, H.shq, H.sh, H.sleep
local check, eq = H.check, H.eq

---------------------------------------------------------------- HTTP via curl

local web = H.http_client{work = WORK, max_time = 20}
-- http(method, url, {headers=, body=}) -> status, body, seconds taken
local function http(method, url, opts)
   local status, body, took = web.request(method, url, opts)
   return status, body, took
end

---------------------------------------------------------------- Redis via redis-cli

local function redis(args)
   return (sh("redis-cli -p " .. REDIS_PORT .. " -a " .. shq(REDIS_PASSWORD) ..
              " --no-auth-warning -n " .. REDIS_DB .. " " .. args):gsub("%s+$", ""))
end

local function redis_info(field)
   return tonumber(redis("INFO stats"):match(field .. ":(%d+)"))
end

-- Wait until cond() holds (up to about 3 s); its last value.
local function eventually(cond)
   local v
   for _ = 1, 60 do
      v = cond()
      if v then return v end
      sleep(0.05)
   end
   return v
end

---------------------------------------------------------------- callbacks

local cli_key = assert(ws.key.generate("secp256k1"))
local signer = assert(ws.message_auth{key = cli_key})
-- This side's view of a callback: the replay key the core gives it.
local local_verifier = assert(ws.message_verifier{trusted = {cli_key:address()}, replay_cache = false})

local ids = 0
-- A freshly signed callback: {headers=, body=, id=, key=, ttl_ms=}. mark:
-- "fail_once" (the application answers 500 the first time), "client_error"
-- (the application answers 400).
local function callback(mark)
   ids = ids + 1
   local id = "cb" .. ids
   local body = string.format('{"type":"deposit_status","id":"%s","mark":"%s"}', id, mark or "none")
   local headers = assert(signer:sign("POST", "/wallet/callback", body))
   local msg = assert(local_verifier:verify(headers, body))
   return {headers = headers, body = body, id = id, key = "walletsign:" .. msg.replay_key,
           ttl_ms = msg.replay_ttl_ms}
end

local function deliver(base, cb, path)
   return http("POST", base .. (path or "/wallet/callback"), {headers = cb.headers, body = cb.body})
end

-- refused(want_status, reason or nil, deliver(...)): a JSON-RPC error answer.
local function refused(want_status, reason, status, body)
   eq(want_status, status, "status (" .. body .. ")")
   local res, err = ws.rpc_parse(body)
   assert(res == nil, "expected a JSON-RPC error body, got " .. body)
   eq(want_status, err.rpc_code, "rpc code")
   if reason then eq(reason, err.data and err.data.reason, "reason") end
end

-- accepted(cb, deliver(...)): the application got the callback.
local function accepted(cb, status, body)
   eq(200, status, "status (" .. body .. ")")
   assert(body:find('"received":"' .. cb.id .. '"', 1, true) or body:find("handled " .. cb.id, 1, true),
          "the application did not get " .. cb.id .. ": " .. body)
end

---------------------------------------------------------------- the two instances

local function free_ports(k)
   local out = sh("/usr/bin/python3 -c 'import socket\nss=[socket.socket() for _ in range(" .. k .. ")]\n" ..
                  "[s.bind((\"127.0.0.1\",0)) for s in ss]\nprint(*(s.getsockname()[1] for s in ss))'")
   local ports = {}
   for p in out:gmatch("%d+") do ports[#ports + 1] = p end
   assert(#ports == k, "free ports: " .. out)
   return ports
end

local ports = free_ports(8)
local CLOSED_PORT = ports[7] -- nothing listens there: the "down" upstream
-- Stand-ins for a Redis that answers wrongly (tests/nginx/fake_redis.py);
-- replay.sh's trap stops them by their pid files.
local FAKE_QUEUED = ports[8]
for _, f in ipairs{{FAKE_QUEUED, "queued"}} do
   local pidfile = DIR .. "/redis/fake-" .. f[2] .. ".pid"
   os.execute("/usr/bin/python3 tests/nginx/fake_redis.py " .. f[1] .. " " .. f[2] .. " " ..
              shq(pidfile) .. " >/dev/null 2>&1 &")
   assert(eventually(function() return read(pidfile) end), "fake redis " .. f[2] .. " did not start")
end
local template = assert(read(WORK .. "/receiver.conf.in"))

local function replace_plain(text, old, new)
   local i, j = text:find(old, 1, true)
   assert(i, "not found: " .. old)
   return text:sub(1, i - 1) .. new .. text:sub(j + 1)
end

-- conf.d/test.conf: the application behind the receiver, and test-only
-- locations on a second port: a content handler that fails, an upstream
-- that is down, a wrong Redis password, and the shared-dict store.
local TEST_CONF = [[
lua_shared_dict test_app 1m;
lua_shared_dict walletsign_replay 1m;
init_worker_by_lua_block {
    local o = receiver.options.replay.redis
    package.loaded.test_bad_options = {replay = {redis = {host = o.host, port = o.port, db = o.db,
                                                          password = BAD_PASSWORD}}}
    package.loaded.test_zero_timeout = {replay = {redis = {host = o.host, port = o.port, db = o.db,
                                                           password = o.password, timeout = 0}}}
    -- the core's (blocking) store: refused inside request handlers
    local ws = require "walletsign"
    package.loaded.test_blocking_verifier = assert(ws.message_verifier{
        trusted = {"0x0000000000000000000000000000000000000001"},
        replay_store = assert(ws.redis_replay_store("redis://127.0.0.1:" .. o.port .. "/0"))})
    package.loaded.test_odd_reply = {replay = {redis = {host = "127.0.0.1", port = FAKE_QUEUED}}}
}
server {
    listen 127.0.0.1:APP_PORT;
    access_log off;
    location / {
        content_by_lua_block {
            ngx.req.read_body()
            local body = ngx.req.get_body_data() or ""
            local id = body:match('"id":"([%w_-]+)"') or ""
            local mark = body:match('"mark":"([%w_]+)"')
            if mark == "fail_once" and ngx.shared.test_app:add("app:" .. id, true) then
                return ngx.exit(500)
            end
            if mark == "client_error" then return ngx.exit(400) end
            if mark == "slow" then ngx.sleep(1.5) end -- processed, after nginx gave up (504)
            ngx.header["Content-Type"] = "application/json"
            ngx.say(string.format('{"received":"%s","sender":"%s"}', id, ngx.var.http_x_verified_sender or ""))
        }
    }
}
server {
    listen 127.0.0.1:TEST_PORT;
    set $walletsign_verdict "";
    # Debian's nginx is built --with-debug: what a debug log shows (the
    # cosockets' pool names) must not give the Redis password away either.
    error_log logs/error.log warn;
    error_log logs/debug.log debug;
    location = /handler/callback {
        access_by_lua_block {
            require("walletsign.nginx").verify_callback(receiver.verifier, receiver.options)
        }
        content_by_lua_block {
            local body = ngx.req.get_body_data() or ""
            local id = body:match('"id":"([%w_-]+)"') or ""
            if body:find('"mark":"fail_once"', 1, true) and ngx.shared.test_app:add("handler:" .. id, true) then
                error("the handler failed on " .. id)
            end
            ngx.say("handled ", id)
        }
        log_by_lua_block { require("walletsign.nginx").release_on_error() }
    }
    location = /down/callback {
        access_by_lua_block {
            require("walletsign.nginx").verify_callback(receiver.verifier, receiver.options)
        }
        log_by_lua_block { require("walletsign.nginx").release_on_error() }
        proxy_pass http://127.0.0.1:CLOSED_PORT;
    }
    location = /slow/callback {
        access_by_lua_block {
            require("walletsign.nginx").verify_callback(receiver.verifier, receiver.options)
        }
        log_by_lua_block { require("walletsign.nginx").release_on_error() }
        proxy_read_timeout 300ms;
        proxy_pass http://127.0.0.1:APP_PORT;
    }
    location = /oddreply/callback {
        access_by_lua_block {
            require("walletsign.nginx").verify_callback(receiver.verifier, package.loaded.test_odd_reply)
        }
        content_by_lua_block { ngx.say("accepted on a reply other than OK") }
    }
    location = /badpass/callback {
        access_by_lua_block {
            require("walletsign.nginx").verify_callback(receiver.verifier, package.loaded.test_bad_options)
        }
        content_by_lua_block { ngx.say("accepted with a wrong password") }
    }
    location = /blocking {
        content_by_lua_block {
            local v = package.loaded.test_blocking_verifier
            local ok, err = pcall(v.verify, v, {}, "")
            ngx.say(ok and "allowed" or tostring(err))
        }
    }
    location = /zero-timeout/callback {
        access_by_lua_block {
            require("walletsign.nginx").verify_callback(receiver.verifier, package.loaded.test_zero_timeout)
        }
        content_by_lua_block { ngx.say("handled") }
    }
    location = /badopt/callback {
        access_by_lua_block {
            require("walletsign.nginx").verify_callback(receiver.verifier,
                                                        {replay = {redis = {port = 6379, timeout = 100}}})
        }
        content_by_lua_block { ngx.say("accepted with a bad option") }
    }
    location = /dict/callback {
        access_by_lua_block { require("walletsign.nginx").verify_callback(receiver.verifier) }
        content_by_lua_block {
            local body = ngx.req.get_body_data() or ""
            local id = body:match('"id":"([%w_-]+)"') or ""
            if body:find('"mark":"fail_once"', 1, true) and ngx.shared.test_app:add("dict:" .. id, true) then
                return ngx.exit(503)
            end
            ngx.say("handled ", id)
        }
        log_by_lua_block { require("walletsign.nginx").release_on_error() }
    }
}
]]

local function instance(name, port, app_port, test_port)
   local prefix = DIR .. "/" .. name
   local conf = template:gsub("/opt/walletsign", (prefix:gsub("%%", "%%%%")))
   conf = replace_plain(conf, "127.0.0.1:8080", "127.0.0.1:" .. port)
   conf = replace_plain(conf, "127.0.0.1:9001", "127.0.0.1:" .. app_port)
   write(prefix .. "/receiver.conf", conf)
   write(prefix .. "/conf.d/test.conf", (TEST_CONF:gsub("APP_PORT", app_port):gsub("TEST_PORT", test_port)
                                          :gsub("CLOSED_PORT", CLOSED_PORT)
                                          :gsub("FAKE_QUEUED", FAKE_QUEUED)
                                          :gsub("BAD_PASSWORD", string.format("%q", BAD_PASSWORD))))
   return {name = name, prefix = prefix, base = "http://127.0.0.1:" .. port,
           test = "http://127.0.0.1:" .. test_port}
end

local A = instance("a", ports[1], ports[2], ports[3])
local B = instance("b", ports[4], ports[5], ports[6])

-- nginx must not inherit this script's LUA_PATH/LUA_CPATH (the ";;" of
-- lua_package_path would take them as the default paths).
local function nginx_command(inst, extra)
   return table.concat({"cd", shq(inst.prefix), "&& env -u LUA_PATH -u LUA_CPATH",
                        "WALLET_MANAGER_ADDRESSES=" .. shq(cli_key:address()),
                        "REDIS_HOST=127.0.0.1", "REDIS_PORT=" .. REDIS_PORT,
                        "REDIS_PASSWORD=" .. shq(REDIS_PASSWORD), "REDIS_DB=" .. REDIS_DB,
                        "/usr/sbin/nginx", extra or "", "-p", shq(inst.prefix),
                        "-c", shq(inst.prefix .. "/receiver.conf"),
                        "-e", shq(inst.prefix .. "/logs/error.log")}, " ")
end

local function master_pid(inst)
   return (read(inst.prefix .. "/logs/nginx.pid") or ""):match("%d+")
end

local function start(inst)
   local t = sh(nginx_command(inst, "-t"))
   assert(t:find("test is successful", 1, true), "nginx -t: " .. t)
   local out = sh(nginx_command(inst))
   for _ = 1, 100 do
      if http("GET", inst.base .. "/nonexistent") == 404 then return end
      sleep(0.1)
   end
   error("nginx " .. inst.name .. " did not start: " .. out .. (read(inst.prefix .. "/logs/error.log") or ""))
end

local function stop(inst)
   local pid = assert(master_pid(inst), "no pid file")
   os.execute("kill -QUIT " .. pid)
   for _ = 1, 100 do
      if not read("/proc/" .. pid .. "/status") then
         os.remove(inst.prefix .. "/logs/nginx.pid")
         return
      end
      sleep(0.05)
   end
   error("nginx " .. inst.name .. " did not stop")
end

local function workers(inst)
   local p = io.popen("grep -l '^PPid:[[:space:]]*" .. master_pid(inst) .. "$' /proc/[0-9]*/status 2>/dev/null")
   local k = 0
   for _ in p:read("*a"):gmatch("%S+") do k = k + 1 end
   p:close()
   return k
end

-- The $walletsign_verdict of the last access log line for uri.
local function last_verdict(inst, uri)
   local verdict
   for line in (read(inst.prefix .. "/logs/access.log") or ""):gmatch("[^\n]+") do
      local u, v = line:match("^%d+ %d+ %S+ (%S+) ?(%S*)")
      if u == uri then verdict = v end
   end
   return verdict
end

-- nginx writes the access log line after answering: wait for it.
local function expect_verdict(inst, uri, want)
   eventually(function() return last_verdict(inst, uri) == want end)
   eq(want, last_verdict(inst, uri), "$walletsign_verdict on " .. inst.name .. " " .. uri)
end

local function metric(inst, sample)
   local status, text = http("GET", inst.base .. "/metrics")
   eq(200, status, "metrics")
   local i, j = text:find(sample .. " ", 1, true)
   if not i then return 0 end
   return tonumber(text:match("^(%d+)", j + 1))
end

---------------------------------------------------------------- cases

local started = pcall(start, A) and pcall(start, B)
check("two receivers start with the documented receiver.conf, 2 workers each", function()
   assert(started, (read(A.prefix .. "/logs/error.log") or "") .. (read(B.prefix .. "/logs/error.log") or ""))
   eq(2, workers(A), "workers of A")
   eq(2, workers(B), "workers of B")
end)
if not started then
   H.finish(1)
end

local first -- accepted by A before the restart

check("a callback accepted by one receiver is refused by the other (replay)", function()
   local cb = callback()
   accepted(cb, deliver(A.base, cb))
   refused(401, "replay", deliver(B.base, cb))
   expect_verdict(B, "/wallet/callback", "replay")
   -- and the other way round
   local cb2 = callback()
   accepted(cb2, deliver(B.base, cb2))
   for _ = 1, 4 do refused(401, "replay", deliver(A.base, cb2)) end -- whichever worker of A
   first = cb
end)

check("the same callback delivered 20 times at once to both receivers: exactly one 200", function()
   local cb = callback()
   local bodyfile, codes = WORK .. "/concurrent.body", WORK .. "/concurrent.codes"
   write(bodyfile, cb.body)
   local hdrs = {}
   for name, value in pairs(cb.headers) do hdrs[#hdrs + 1] = "-H " .. shq(name .. ": " .. value) end
   local jobs = {}
   for i = 1, 20 do
      local base = i % 2 == 0 and A.base or B.base
      jobs[#jobs + 1] = "curl -sS --max-time 20 -o /dev/null -w '%{http_code}\\n' -X POST " ..
                        table.concat(hdrs, " ") .. " -H 'Content-Type: application/json' --data-binary @" ..
                        shq(bodyfile) .. " " .. shq(base .. "/wallet/callback") .. " >>" .. shq(codes) .. " &"
   end
   sh("rm -f " .. shq(codes) .. "; " .. table.concat(jobs, " ") .. " wait")
   local by_code = {}
   for code in (read(codes) or ""):gmatch("%d+") do by_code[code] = (by_code[code] or 0) + 1 end
   eq(1, by_code["200"], "200 answers")
   eq(19, by_code["401"], "401 answers")
end)

check("the record is the core's key, with the core's lifetime, in the configured db", function()
   assert(first, "nothing accepted")
   eq("1", redis("GET " .. shq(first.key)), "GET " .. first.key)
   local pttl = tonumber(redis("PTTL " .. shq(first.key)))
   assert(pttl and pttl > first.ttl_ms - 10000 and pttl <= first.ttl_ms, "PTTL " .. tostring(pttl) ..
          " for replay_ttl_ms " .. first.ttl_ms)
   eq("0", (sh("redis-cli -p " .. REDIS_PORT .. " -a " .. shq(REDIS_PASSWORD) ..
                " --no-auth-warning -n 0 EXISTS " .. shq(first.key)):gsub("%s+$", "")), "the key in db 0")
end)

check("connections are pooled: 20 callbacks open at most one connection per worker", function()
   local before = redis_info("total_connections_received")
   for _ = 1, 20 do
      local cb = callback()
      accepted(cb, deliver(A.base, cb))
   end
   local after = redis_info("total_connections_received")
   -- redis-cli's own connection for "after" is counted; each of A's two
   -- workers may have had to open one (its pooled one may be gone)
   assert(after - before - 1 <= 2, "new connections: " .. (after - before - 1))
end)

check("a restarted nginx does not reopen the window", function()
   assert(first, "nothing accepted")
   stop(A)
   start(A)
   refused(401, "replay", deliver(A.base, first))
   local cb = callback()
   accepted(cb, deliver(A.base, cb))
end)

local function gone(key)
   return function() return redis("EXISTS " .. shq(key)) == "0" end
end

check("release: the application answers 500, the redelivery is accepted exactly once", function()
   local released = metric(A, 'walletsign_callbacks_released_total{verdict="ok"}')
   local cb = callback("fail_once")
   eq(500, (deliver(A.base, cb)), "the failed delivery")
   assert(eventually(gone(cb.key)), "the record was not released")
   accepted(cb, deliver(A.base, cb))
   refused(401, "replay", deliver(A.base, cb))
   refused(401, "replay", deliver(B.base, cb))
   eq(released + 1, metric(A, 'walletsign_callbacks_released_total{verdict="ok"}'), "released")
end)

check("release: a content handler that raises (500), redelivery accepted exactly once", function()
   local cb = callback("fail_once")
   eq(500, (deliver(A.test, cb, "/handler/callback")), "the failed delivery")
   assert(eventually(gone(cb.key)), "the record was not released")
   accepted(cb, deliver(A.test, cb, "/handler/callback"))
   refused(401, "replay", deliver(B.test, cb, "/handler/callback"))
end)

check("release: an upstream that is down (502), redelivery accepted exactly once", function()
   local cb = callback()
   eq(502, (deliver(B.test, cb, "/down/callback")), "the failed delivery")
   assert(eventually(gone(cb.key)), "the record was not released")
   accepted(cb, deliver(A.base, cb))
   refused(401, "replay", deliver(B.base, cb))
end)

check("no release when the upstream took the callback and gave no answer (504): it may have processed it", function()
   local cb = callback("slow")
   eq(504, (deliver(B.test, cb, "/slow/callback")), "the timed-out delivery")
   sleep(0.5) -- a release would have run by now (a zero-delay timer)
   eq("1", redis("EXISTS " .. shq(cb.key)), "the record of a callback the application may have processed")
   refused(401, "replay", deliver(A.base, cb))
end)

check("no release for a 4xx answer: the redelivery is refused", function()
   local cb = callback("client_error")
   eq(400, (deliver(A.base, cb)), "the application's 400")
   sleep(0.3) -- time for a release, were there one
   eq("1", redis("EXISTS " .. shq(cb.key)), "the record")
   refused(401, "replay", deliver(A.base, cb))
end)

check("release with the shared-dict store: at once, redelivery accepted exactly once", function()
   local cb = callback("fail_once")
   eq(503, (deliver(A.test, cb, "/dict/callback")), "the failed delivery")
   accepted(cb, deliver(A.test, cb, "/dict/callback"))
   refused(401, "replay", deliver(A.test, cb, "/dict/callback"))
   eq("0", redis("EXISTS " .. shq(cb.key)), "a Redis record for the shared-dict store")
end)

check("a wrong Redis password: 503 store_unavailable, the password never logged", function()
   local cb = callback()
   for _ = 1, 3 do
      refused(503, nil, deliver(A.test, cb, "/badpass/callback"))
   end
   expect_verdict(A, "/badpass/callback", "store_unavailable")
   local log = read(A.prefix .. "/logs/error.log") or ""
   assert(log:find("callback not checked: store_unavailable: redis 127.0.0.1:" .. REDIS_PORT .. ": AUTH: ",
                   1, true), "no store_unavailable line naming AUTH in the error log")
   -- the same callback with the right password is accepted: nothing was recorded
   accepted(cb, deliver(A.base, cb))
end)

check("the core's blocking Redis store refuses to run in a request handler", function()
   local status, body = http("GET", A.test .. "/blocking")
   eq(200, status, body)
   assert(body:find("a message verifier with a replay_store would block the nginx worker in the content phase",
                    1, true), body)
end)

check("a replay.redis option out of the core's range: 500, and the core's words in the log", function()
   local status = deliver(A.test, callback(), "/badopt/callback")
   eq(500, status, "status")
   local log = read(A.prefix .. "/logs/error.log") or ""
   assert(log:find("walletsign.nginx: bad replay.redis options: walletsign argument_error: timeout must be",
                   1, true), "no bad-option line in the error log")
end)

check("a reply to SET NX other than OK or nil fails closed (503), as in the core", function()
   local cb = callback()
   refused(503, nil, deliver(A.test, cb, "/oddreply/callback"))
   refused(503, nil, deliver(B.test, cb, "/oddreply/callback"))
end)

local REDIS_DIR = DIR .. "/redis"

local function redis_pid()
   return read(REDIS_DIR .. "/restarted.pid") and read(REDIS_DIR .. "/restarted.pid"):match("%d+")
          or assert(os.getenv("WS_REDIS_PID"))
end

local function stop_redis()
   local pid = redis_pid()
   os.execute("kill " .. pid)
   for _ = 1, 100 do
      if not read("/proc/" .. pid .. "/status") or
         ((read("/proc/" .. pid .. "/status") or ""):match("\nState:%s+Z")) then return end
      sleep(0.05)
   end
   error("redis-server did not stop")
end

-- On the same port, with the same password; its pid for replay.sh's trap.
local function restart_redis()
   os.execute("redis-server --port " .. REDIS_PORT .. " --bind 127.0.0.1 --save '' --appendonly no" ..
              " --requirepass " .. shq(REDIS_PASSWORD) .. " --dir " .. shq(REDIS_DIR) ..
              " --logfile " .. shq(REDIS_DIR .. "/redis2.log") .. " --daemonize no >/dev/null 2>&1 & echo $! >" ..
              shq(REDIS_DIR .. "/restarted.pid"))
   assert(eventually(function() return redis("PING") == "PONG" end), "redis-server did not restart")
end

local pending -- a fresh callback refused while Redis was down

check("Redis stopped: every verification answers 503, on both receivers, none accepted", function()
   local errors = metric(A, 'walletsign_callbacks_total{verdict="error",reason="store_unavailable"}')
   eq("PONG", redis("PING"), "Redis before the stop")
   stop_redis()
   local cb = callback()
   for _, inst in ipairs{A, B, A, B} do
      refused(503, nil, deliver(inst.base, cb))            -- fresh
      refused(503, nil, deliver(inst.base, first))         -- a replay
      expect_verdict(inst, "/wallet/callback", "store_unavailable")
   end
   refused(503, nil, deliver(A.test, cb, "/handler/callback"))
   eq(errors + 5, metric(A, 'walletsign_callbacks_total{verdict="error",reason="store_unavailable"}'),
      "store_unavailable counted")
   pending = cb
end)

check("Redis back: verification recovers without reloading nginx", function()
   assert(pending, "no callback refused while Redis was down")
   restart_redis()
   accepted(pending, deliver(A.base, pending))       -- never recorded while down
   refused(401, "replay", deliver(B.base, pending))
   local cb = callback()
   accepted(cb, deliver(B.base, cb))
   refused(401, "replay", deliver(A.base, cb))
end)

check("Redis hanging: 503 after the timeout (0.5 s; also for timeout = 0), within about 1 s, then recovers", function()
   local pid = redis_pid()
   os.execute("kill -STOP " .. pid)
   local ok, err = pcall(function()
      local cb = callback()
      for _, inst in ipairs{A, B} do
         local status, body, took = deliver(inst.base, cb)
         refused(503, nil, status, body)
         assert(took < 1.5, "answered after " .. took .. " s")
      end
      -- timeout = 0 is the core's default (0.5 s), not nginx's 60 s
      local status, body, took = deliver(A.test, cb, "/zero-timeout/callback")
      refused(503, nil, status, body)
      assert(took < 1.5, "timeout = 0: answered after " .. took .. " s")
   end)
   os.execute("kill -CONT " .. pid)
   assert(ok, err)
   local cb = callback()
   accepted(cb, deliver(A.base, cb))
   refused(401, "replay", deliver(B.base, cb))
end)

check("the logs hold no password, no signature, and no crash", function()
   for _, inst in ipairs{A, B} do
      local log = read(inst.prefix .. "/logs/error.log") or ""
      assert(not log:find(REDIS_PASSWORD, 1, true), "the Redis password was logged by " .. inst.name)
      assert(not log:find(BAD_PASSWORD, 1, true), "the bad password was logged by " .. inst.name)
      assert(not log:find(first.headers["X-Message-Signature"], 1, true), "a signature was logged")
      for line in log:gmatch("[^\n]+") do
         assert(not line:find("%[crit%]") and not line:find("%[alert%]") and not line:find("%[emerg%]"),
                "unexpected: " .. line)
      end
   end
end)

check("a debug log holds neither the Redis password nor a digest of it (the pool's name)", function()
   local log = read(A.prefix .. "/logs/debug.log") or ""
   assert(log:find("connection pool", 1, true), "no pool lines in the debug log")
   assert(not log:find(REDIS_PASSWORD, 1, true), "the Redis password is in the debug log")
   local md5 = sh("printf '\\000%s' " .. shq(REDIS_PASSWORD) .. " | md5sum"):match("%x+")
   assert(md5 and #md5 == 32, "md5sum")
   assert(not log:find(md5, 1, true), "an unsalted MD5 of the Redis password is in the debug log")
end)

if H.failed() > 0 then
   for _, log in ipairs{"redis.log", "redis2.log"} do
      print("# " .. log .. ": " .. (read(REDIS_DIR .. "/" .. log) or "(none)"):sub(-1500):gsub("\n", "\n# "))
   end
end
H.finish()

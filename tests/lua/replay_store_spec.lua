-- ws.redis_replay_store and the verifier's replay_store option against a
-- real, private redis-server (issue #13): shared by verifiers as by
-- processes, release, fail closed when Redis is gone, recovery when it is
-- back. The spec starts its own redis-server (free port, temporary dir, a
-- password) and fails, never skips, when it cannot.
local spec_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = spec_dir .. "/?.lua;" .. package.path
local H = require "helpers"
local ws = require "walletsign"

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Commands run without the sanitizer runtimes scripts/check-lua.sh preloads
-- (redis-server, redis-cli and the shell are not ours to leak-check);
-- keep_preload for a Lua child that loads the sanitized module.
local function command(cmd, keep_preload)
   return keep_preload and cmd or "env -u LD_PRELOAD sh -c " .. shq(cmd)
end

local function sh(cmd, keep_preload)
   local p = assert(io.popen(command(cmd, keep_preload) .. " 2>&1"))
   local out = p:read("*a")
   p:close()
   return (out:gsub("%s+$", ""))
end

local function run(cmd) return os.execute(command(cmd)) end

local function sleep(s) run("sleep " .. s) end

---------------------------------------------------------------- a private Redis

local PASSWORD = "pw:" .. tostring(os.time()) .. "@x" -- ':' and '@' travel percent-encoded in the URL
local DB = 2
local redis = {} -- {port=, dir=, pid=}

local function redis_cli(args)
   return sh("redis-cli -p " .. redis.port .. " -a " .. shq(PASSWORD) .. " --no-auth-warning -n " .. DB ..
             " " .. args)
end

local function redis_up()
   for _ = 1, 100 do
      if redis_cli("PING") == "PONG" then return true end
      sleep(0.05)
   end
   return false
end

-- (Re)start redis-server on redis.port (the same port after a stop).
local function start_redis()
   assert(sh("command -v redis-server") ~= "", "redis-server is not installed (make deps): this spec needs it")
   redis.port = redis.port or tonumber(sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); " ..
                                          "s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'"))
   redis.dir = redis.dir or sh("mktemp -d /tmp/walletsign-lua-redis.XXXXXX")
   redis.pid = sh("redis-server --port " .. redis.port .. " --bind 127.0.0.1 --save '' " ..
                  "--appendonly no --requirepass " .. shq(PASSWORD) .. " --dir " .. shq(redis.dir) ..
                  " --logfile " .. shq(redis.dir .. "/redis.log") .. " >/dev/null 2>&1 & echo $!")
   assert(redis_up(), "redis-server did not start: " .. sh("cat " .. shq(redis.dir .. "/redis.log")))
end

local function stop_redis()
   if not redis.pid then return end
   -- not our child (started through sh): make sure the pid is still ours
   run("grep -qs redis-server /proc/" .. redis.pid .. "/cmdline && kill " .. redis.pid .. " 2>/dev/null")
   for _ = 1, 100 do
      if sh("kill -0 " .. redis.pid .. " 2>/dev/null && echo up") ~= "up" then break end
      sleep(0.05)
   end
   redis.pid = nil
end

local function percent(s)
   return (s:gsub("[^%w%-._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function url(password)
   return "redis://:" .. percent(password or PASSWORD) .. "@127.0.0.1:" .. redis.port .. "/" .. DB
end

---------------------------------------------------------------- messages

local key = assert(ws.key.generate("secp256k1"))
local signer = assert(ws.message_auth{key = key})
local BODY = '{"type":"deposit_status","data":{"amount":"1.5"}}'

local function signed()
   return assert(signer:sign("POST", "/wallet/callback", BODY))
end

local function verifier(store, opts)
   opts = opts or {}
   opts.trusted = {key:address()}
   opts.replay_store = store
   return assert(ws.message_verifier(opts))
end

local function expect_error(kind, reason, v, err)
   assert.is_nil(v)
   assert.is_true(ws.is_error(err), "expected an error table, got " .. tostring(err))
   assert.equals(kind, err.kind, tostring(err))
   if reason then assert.equals(reason, err.reason, tostring(err)) end
   return err
end

describe("ws.redis_replay_store", function()
   setup(start_redis)
   teardown(function()
      stop_redis()
      if redis.dir then run("rm -rf " .. shq(redis.dir)) end
   end)

   it("is a walletsign.ReplayStore made from a redis:// URL, without connecting", function()
      local store = assert(ws.redis_replay_store(url()))
      assert.truthy(tostring(store):find("walletsign.ReplayStore", 1, true))
      -- nothing listens on port 1: the constructor does not connect
      assert(ws.redis_replay_store("redis://127.0.0.1:1/0", {timeout = 0.2, prefix = "x:"}))
      store:close()
      assert.has_error(function() verifier(store) end)
   end)

   it("refuses a URL it cannot use with a typed error (rediss://: no TLS)", function()
      local _, err = ws.redis_replay_store("rediss://127.0.0.1:6379/0")
      expect_error("argument_error", nil, nil, err)
      assert.truthy(err.message:lower():find("tls", 1, true), err.message)
      expect_error("argument_error", nil, ws.redis_replay_store("http://127.0.0.1/"))
      expect_error("argument_error", nil, ws.redis_replay_store(url(), {timeout = 100}))
      assert.has_error(function() ws.redis_replay_store(url(), {prefix = 5}) end)
   end)

   it("records the core's key for the core's lifetime; a replay is refused", function()
      local v = verifier(assert(ws.redis_replay_store(url())))
      local h = signed()
      local msg = assert(v:verify(h, BODY))
      assert.equals("1", redis_cli("GET " .. shq("walletsign:" .. msg.replay_key)))
      local pttl = tonumber(redis_cli("PTTL " .. shq("walletsign:" .. msg.replay_key)))
      assert.is_true(pttl > msg.replay_ttl_ms - 10000 and pttl <= msg.replay_ttl_ms, tostring(pttl))
      expect_error("invalid", "replay", v:verify(h, BODY))
   end)

   it("stays with its verifier when the store handle is closed or collected", function()
      local store = assert(ws.redis_replay_store(url()))
      local v = verifier(store)
      store:close()
      store = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      local h = signed()
      assert(v:verify(h, BODY))
      expect_error("invalid", "replay", v:verify(h, BODY))
   end)

   it("is shared: a message accepted by one verifier is refused by another (another process)", function()
      local h = signed()
      local a = verifier(assert(ws.redis_replay_store(url())))
      local b = verifier(assert(ws.redis_replay_store(url())))
      assert(a:verify(h, BODY))
      expect_error("invalid", "replay", b:verify(h, BODY))
      -- a verifier that is a separate Lua process
      local lua = jit and "luajit" or "lua5.4"
      local prog = ([[
         local ws = require "walletsign"
         local v = assert(ws.message_verifier{trusted = {%q}, replay_store = assert(ws.redis_replay_store(%q))})
         local m, err = v:verify({["X-Message-Address"] = %q, ["X-Message-Timestamp"] = %q,
                                  ["X-Message-Session"] = %q, ["X-Message-Sequence"] = %q,
                                  ["X-Message-Signature"] = %q}, %q)
         io.write(m and "accepted" or err.reason)]]):format(key:address(), url(), h["X-Message-Address"],
         h["X-Message-Timestamp"], h["X-Message-Session"], h["X-Message-Sequence"], h["X-Message-Signature"], BODY)
      local f = assert(io.open(redis.dir .. "/child.lua", "wb"))
      f:write(prog)
      f:close()
      assert.equals("replay", sh(shq(lua) .. " " .. shq(redis.dir .. "/child.lua"), true))
   end)

   it("keeps keys apart by prefix", function()
      local h = signed()
      local a = verifier(assert(ws.redis_replay_store(url(), {prefix = "site-a:"})))
      local b = verifier(assert(ws.redis_replay_store(url(), {prefix = "site-b:"})))
      local msg = assert(a:verify(h, BODY))
      assert(b:verify(h, BODY))
      assert.equals("1", redis_cli("EXISTS " .. shq("site-a:" .. msg.replay_key)))
      assert.equals("1", redis_cli("EXISTS " .. shq("site-b:" .. msg.replay_key)))
   end)

   it("release: the redelivery of a released message is accepted exactly once", function()
      local store = assert(ws.redis_replay_store(url()))
      local v, other = verifier(store), verifier(assert(ws.redis_replay_store(url())))
      local h = signed()
      local msg = assert(v:verify(h, BODY))
      assert.is_true(assert(v:release(msg)))
      assert.equals("0", redis_cli("EXISTS " .. shq("walletsign:" .. msg.replay_key)))
      assert(other:verify(h, BODY))                        -- the redelivery, anywhere
      expect_error("invalid", "replay", v:verify(h, BODY))   -- once
      expect_error("invalid", "replay", other:verify(h, BODY))
   end)

   it("release works with the in-memory cache too, and refuses what it cannot release", function()
      local v = assert(ws.message_verifier{trusted = {key:address()}})
      local h = signed()
      local msg = assert(v:verify(h, BODY))
      expect_error("invalid", "replay", v:verify(h, BODY))
      assert(v:release(msg))
      assert(v:verify(h, BODY))
      -- no cache at all: nothing to release
      local nocache = assert(ws.message_verifier{trusted = {key:address()}, replay_cache = false})
      local m2 = assert(nocache:verify(signed(), BODY))
      expect_error("argument_error", nil, nocache:release(m2))
      -- only a result of verify (a copy of its fields is not one)
      local copy = {}
      for k, val in pairs(msg) do copy[k] = val end
      assert.has_error(function() v:release(copy) end)
      assert.has_error(function() v:release("x") end)
   end)

   it("a wrong password fails closed with store_unavailable and never shows the password", function()
      local bad = "not-" .. PASSWORD
      local v = verifier(assert(ws.redis_replay_store(url(bad))))
      local err = expect_error("store_error", "store_unavailable", v:verify(signed(), BODY))
      assert.is_nil(tostring(err):find(bad, 1, true), tostring(err))
      assert.is_nil(tostring(err):find(percent(bad), 1, true), tostring(err))
   end)

   it("Redis stopped: nil, store_error (store_unavailable), never accepted; back: accepted again", function()
      local store = assert(ws.redis_replay_store(url(), {timeout = 0.5}))
      local v = verifier(store)
      local before = signed()
      local accepted = assert(v:verify(before, BODY))
      stop_redis()
      local fresh = signed()
      for _ = 1, 3 do
         expect_error("store_error", "store_unavailable", v:verify(fresh, BODY))
         expect_error("store_error", "store_unavailable", v:verify(before, BODY)) -- a replay: not accepted
      end
      expect_error("store_error", "store_unavailable", v:release(accepted))
      -- the window is checked before the store is asked: a stale message is stale
      local later = (os.time() + 600) * 1000 -- ten minutes on: outside the window
      expect_error("invalid", "stale_timestamp", v:verify(signed(), BODY, {now = later}))
      start_redis()                                   -- same port, nothing rebuilt
      assert(v:verify(fresh, BODY))
      expect_error("invalid", "replay", v:verify(fresh, BODY))
   end)

   it("Redis hanging: the timeout bounds the wait (0.2 s: about 1 s at most, not 2)", function()
      local v = verifier(assert(ws.redis_replay_store(url(), {timeout = 0.2})))
      assert(v:verify(signed(), BODY)) -- connected
      run("kill -STOP " .. redis.pid)
      local ok, err = pcall(function()
         local clock0 = sh("date +%s.%N")
         expect_error("store_error", "store_unavailable", v:verify(signed(), BODY))
         local took = tonumber(sh("date +%s.%N")) - tonumber(clock0)
         assert.is_true(took < 1.0, "waited " .. took .. " s")
      end)
      run("kill -CONT " .. redis.pid)
      assert(ok, err)
      assert(redis_up())
      assert(v:verify(signed(), BODY))
   end)
end)

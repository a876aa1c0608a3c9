-- Rate limits shared by clients (issue #13): clients that sign with one key
-- at one rate and burst share one token bucket in the process; the option
-- rate_limit = false turns the limiter off, {rate, burst} picks another bucket.
local spec_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = spec_dir .. "/?.lua;" .. package.path
local H = require "helpers"
local ws = require "walletsign"

local info = H.mock()

local function client(api_key, rate_limit)
   local auth = assert(ws.hmac_auth{api_key = api_key, secret = info.hmac_secret})
   return assert(ws.client{base_url = info.url, auth = auth, rate_limit = rate_limit})
end

-- The gaps, in ms, between the requests the mock saw at path.
local function gaps(path)
   local log, out = H.mock_log(path), {}
   for i = 2, #log do out[#out + 1] = log[i].t_ms - log[i - 1].t_ms end
   return out
end

-- Two clients take turns, two requests each.
local function alternate(a, b, path)
   H.mock_delete("/_mock/log")
   for _ = 1, 2 do
      assert.equals(200, assert(a:request("GET", path)).status)
      assert.equals(200, assert(b:request("GET", path)).status)
   end
   return gaps(path)
end

teardown(function()
   H.stop_mocks()
end)

describe("rate limits shared by clients", function()
   it("gives two clients of one key one bucket", function()
      local a, b = client(info.hmac_api_key, {5, 1}), client(info.hmac_api_key, {5, 1})
      local g = alternate(a, b, "/v1/wallet/list")
      assert.equals(3, #g)
      -- 200 ms apart at 5/s (a few ms without sharing). The mock stamps
      -- arrivals: a request it reads late shortens the next gap by as much
      -- on a loaded machine (138 ms seen in make test), not their sum.
      local sum = 0
      for _, gap in ipairs(g) do
         assert.is_true(gap >= 100, "gap " .. gap .. " ms: the second client did not wait")
         sum = sum + gap
      end
      assert.is_true(sum >= 500, "gaps " .. table.concat(g, ", ") .. " ms: the clients did not share one bucket")
      a:close()
      b:close()
   end)

   it("keeps other rates, and clients without a limiter, apart", function()
      local a, b = client(info.hmac_api_key, {5, 1}), client(info.hmac_api_key, {5, 2})
      local g = alternate(a, b, "/v1/wallet/list")
      assert.is_true(g[1] < 150, "gap " .. g[1] .. " ms: {5, 2} waited for {5, 1}'s bucket")
      local c, d = client(info.hmac_api_key, false), client(info.hmac_api_key, false)
      for _, gap in ipairs(alternate(c, d, "/v1/wallet/list")) do
         assert.is_true(gap < 150, "gap " .. gap .. " ms without a limiter")
      end
   end)

   it("refuses a rate_limit that is not a table, false or a limiter", function()
      assert.has_error(function() client(info.hmac_api_key, "shared") end)
      assert.has_error(function() client(info.hmac_api_key, 10) end)
   end)
end)

-- A private redis-server for this spec: 127.0.0.1, a free port, a temporary
-- directory, no persistence; stopped by stop() and in teardown. The tools run
-- without the sanitizer runtime that make check preloads into this process
-- (their own leaks are not ours to report).
local PLAIN = "env -u LD_PRELOAD -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS "
local function free_port()
   local p = assert(io.popen(PLAIN .. [[/usr/bin/python3 -c 'import socket; s = socket.socket(); ]] ..
                             [[s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']]))
   local port = tonumber(p:read("*l"))
   p:close()
   return assert(port)
end

local Redis = {}
Redis.__index = Redis

function Redis.new()
   local dirp = assert(io.popen(PLAIN .. "mktemp -d /tmp/wsig-redis-lua-XXXXXX"))
   local self = setmetatable({dir = dirp:read("*l"), port = free_port()}, Redis)
   dirp:close()
   self.url = "redis://127.0.0.1:" .. self.port .. "/0"
   return self
end

function Redis:cli(args)
   local p = assert(io.popen(PLAIN .. "redis-cli -p " .. self.port .. " " .. args .. " 2>/dev/null"))
   local out = p:read("*a")
   p:close()
   return (out:gsub("%s+$", ""))
end

function Redis:start()
   assert(os.execute((PLAIN .. "redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no " ..
                      "--dir %s --daemonize yes --pidfile %s/redis.pid --logfile %s/redis.log")
                     :format(self.port, self.dir, self.dir, self.dir)))
   for _ = 1, 100 do
      if self:cli("ping") == "PONG" then return self end
      os.execute("sleep 0.05")
   end
   error("redis-server did not start (" .. self.dir .. "/redis.log)")
end

function Redis:stop()
   os.execute(("[ -f %s/redis.pid ] && kill $(cat %s/redis.pid) 2>/dev/null; " ..
               "for i in $(seq 100); do [ -f %s/redis.pid ] || break; sleep 0.05; done")
              :format(self.dir, self.dir, self.dir))
end

describe("ws.redis_rate_limit", function()
   local redis

   setup(function()
      redis = Redis.new():start()
   end)

   teardown(function()
      redis:stop()
      os.execute("rm -rf " .. redis.dir)
   end)

   it("gives clients with limiters of their own one bucket in Redis", function()
      local prefix = "wsig-lua-" .. _VERSION:gsub("%W", "") .. ":"
      local la = assert(ws.redis_rate_limit(redis.url, {rate = 5, burst = 1, prefix = prefix}))
      local lb = assert(ws.redis_rate_limit(redis.url, {rate = 5, burst = 1, prefix = prefix}))
      local a, b = client(info.hmac_api_key, la), client(info.hmac_api_key, lb)
      la, lb = nil, nil
      collectgarbage() -- the clients keep their own references
      for _, gap in ipairs(alternate(a, b, "/v1/wallet/list")) do
         assert.is_true(gap >= 150, "gap " .. gap .. " ms: the second client did not wait")
      end
      local keys = redis:cli("--scan --pattern '" .. prefix .. "*'")
      assert.is_truthy(keys:match("^" .. prefix:gsub("%-", "%%-") .. "rate:%x+$"), keys)
      assert.is_true(tonumber(redis:cli("pttl " .. keys)) > 0)
   end)

   it("fails the call closed when Redis is gone, and works again when it is back", function()
      local l = assert(ws.redis_rate_limit(redis.url, {timeout = 0.2}))
      local c = client(info.hmac_api_key, l)
      assert.equals(200, assert(c:request("GET", "/v1/wallet/list")).status)
      redis:stop()
      H.mock_delete("/_mock/log")
      local res, err = c:request("GET", "/v1/wallet/list")
      assert.is_nil(res)
      assert.equals("store_error", err.kind)
      assert.equals("store_unavailable", err.reason)
      assert.equals(0, #H.mock_log("/v1/wallet/list"))
      redis:start()
      assert.equals(200, assert(c:request("GET", "/v1/wallet/list")).status)
   end)

   it("runs the example of docs/scale-out.md", function()
      local doc = assert(H.read_file(spec_dir .. "/../../docs/scale-out.md"))
      local section = doc:match("\n## Rate limits\n(.-)\n## ") or doc:match("\n## Rate limits\n(.*)$")
      local code = assert(section:match("```lua\n(.-)```"), "no lua example")
      local vars = {REDIS_URL = redis.url, API_KEY = info.hmac_api_key,
                    API_SECRET = info.hmac_secret, BASE_URL = info.url}
      local env = setmetatable({os = setmetatable({getenv = function(k) return vars[k] end},
                                                  {__index = os})}, {__index = _G})
      local chunk
      if setfenv then
         chunk = assert(loadstring(code, "scale-out.md:lua"))
         setfenv(chunk, env)
      else
         chunk = assert(load(code, "scale-out.md:lua", "t", env))
      end
      H.mock_delete("/_mock/log")
      chunk()
      local log = H.mock_log("/v1/wallet/list")
      assert.equals(1, #log)
      assert.equals(200, log[1].status)
   end)

   it("refuses bad arguments and a closed limiter", function()
      local none, err = ws.redis_rate_limit("redis://127.0.0.1:1", {rate = -1})
      assert.is_nil(none)
      assert.equals("argument_error", err.kind)
      none, err = ws.redis_rate_limit("rediss://127.0.0.1:1")
      assert.is_nil(none)
      assert.equals("argument_error", err.kind)
      local l = assert(ws.redis_rate_limit("redis://:s3cret@127.0.0.1:1"))
      assert.is_nil(tostring(l):find("s3cret"))
      l:close()
      assert.has_error(function() client(info.hmac_api_key, l) end)
   end)
end)

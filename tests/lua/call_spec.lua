-- The shim of the core's sans-I/O call (what walletsign.nginx's client
-- drives): steps become Lua values and the driver's reports go back, under
-- Lua 5.4 and LuaJIT alike. No network: answers are made up here; what the
-- rules do with them is the core's (tests/c/test_call.c judges those).
local spec_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = spec_dir .. "/?.lua;" .. package.path
local ws = require "walletsign"
local core = require "walletsign.core"

local AUTH = assert(ws.hmac_auth{api_key = "k", secret = "s"})

local function client(opts)
   local o = {base_url = "https://api.example/v2", auth = AUTH}
   for k, v in pairs(opts or {}) do o[k] = v end
   return assert(core.nginx_client(o))
end

-- Take the token if asked; return the SEND step.
local function to_send(call)
   local kind, step = call:next()
   if kind == "token" then
      assert.is_true(step > 0) -- the call's time left
      call:token(0, true)
      kind, step = call:next()
   end
   assert.equals("send", kind)
   return step
end

local function header(step, name)
   for _, h in ipairs(step.headers) do
      if h[1]:lower() == name:lower() then return h[2] end
   end
end

describe("core call objects (walletsign.nginx's client)", function()
   it("hand out a signed request and turn a JSON answer into the result", function()
      local c = client()
      local call = assert(c:_start_query("get_profile", {id = 1}))
      local step = to_send(call)
      assert.equals("POST", step.method)
      assert.equals("/v2/query", step.target)
      assert.equals("api.example", step.host)
      assert.equals('{"name":"get_profile","payload":{"id":1}}', step.body)
      assert.equals("k", header(step, "X-API-Key"))
      assert.equals("application/json", header(step, "Content-Type"))
      assert.truthy(header(step, "User-Agent"):find("(nginx)", 1, true))
      call:answer(200, {["Content-Type"] = "application/json"}, '{"name":"Ann"}')
      assert.equals("done", (call:next()))
      assert.same({name = "Ann"}, (call:result()))
   end)

   it("turn a 429 into a wait event and a plain POST's 503 into a typed error", function()
      local c = client()
      local call = assert(c:_start_request("POST", "/x", {json = {a = 1}, headers = {["X-Trace"] = "t"}}))
      local step = to_send(call)
      assert.equals("t", header(step, "X-Trace"))
      call:answer(429, {["Retry-After"] = "2"}, "{}")
      local kind, ev = call:next()
      assert.equals("wait", kind)
      assert.same({kind = "wait_429", method = "POST", path = "/x", attempt = 2, delay = 2,
                   cause = "HTTP 429"}, ev)
      to_send(call)
      call:answer(503, {["Content-Type"] = "application/json", ["X-Multi"] = {"a", "b"}}, "busy")
      assert.equals("done", (call:next()))
      local res = assert(call:result())
      assert.equals(503, res.status)
      assert.equals(2, res.attempts)
      assert.equals("a, b", res.headers["x-multi"])
      assert.equals("busy", res.body)
   end)

   it("retry what never left, and end with the failure's kind and context", function()
      local c = client{retries = 1, backoff = 0.01}
      local call = assert(c:_start_command("move", nil, {idempotency_key = "id-1"}))
      local step = to_send(call)
      assert.equals("id-1", header(step, "Idempotency-Key"))
      call:failure{status = "transport_error", outcome = "not_sent", reached = false,
                   cause = "refused", message = "no connection"}
      local kind, ev = call:next()
      assert.equals("wait", kind)
      assert.equals("retry", ev.kind)
      assert.equals("refused", ev.cause)
      to_send(call)
      call:failure{status = "timeout", outcome = "transient", cause = "slow", message = "no answer in time"}
      assert.equals("done", (call:next()))
      local ok, err = call:result()
      assert.is_nil(ok)
      assert.equals("timeout", err.kind)
      assert.truthy(err.message:find("no answer in time (POST /command, 2 attempts,", 1, true), err.message)
   end)

   it("keep an RPC error and a refused request typed", function()
      local c = client()
      local call = assert(c:_start_call("POST", "/access/x", {a = 1}))
      to_send(call)
      call:answer(200, {}, '{"error":{"code":21,"message":"Invalid request"}}')
      call:next()
      local ok, err = call:result()
      assert.is_nil(ok)
      assert.equals("rpc_error", err.kind)
      assert.equals(21, err.rpc_code)
      local none, err2 = c:_start_request("GET", "/x", {headers = {Host = "evil.example"}})
      assert.is_nil(none)
      assert.equals("argument_error", err2.kind)
      assert.has_error(function() call:failure{status = "nonsense"} end)
   end)

   it("give the limiter's settings and the bucket arithmetic", function()
      local rate, burst = client():_rate()
      assert.equals(10, rate)
      assert.equals(10, burst)
      assert.is_nil((client{rate_limit = false}):_rate())
      local wait, taken, tokens, last = core.rate_take(nil, 0, 100, 10, 2, 1)
      assert.equals(0, wait)
      assert.is_true(taken)
      assert.equals(1, tokens)
      wait, taken, tokens, last = core.rate_take(0, 0, 100, 10, 2, 1)
      assert.is_true(wait > 0.09 and wait < 0.11)
      assert.is_false(taken) -- spent before any answer: ask again
      assert.equals(0, last)
      wait, taken, tokens = core.rate_take(0, 100, 100, 10, 2, 1)
      assert.is_true(taken)
      assert.equals(-1, tokens) -- taken for after the wait
      wait, taken, tokens = core.rate_take(-1, 100, 100, 10, 2, 0.1)
      assert.is_true(wait > 0.19 and wait < 0.21)
      assert.is_false(taken) -- longer than max_wait: nothing taken
      assert.equals(-1, tokens)
      tokens = core.rate_refund(-1, 100, 100, 10, 2)
      assert.equals(0, tokens)
      assert.equals(100.5, core.rate_answer_seen(0, 100.5))
      assert.equals(7, core.rate_answer_seen(7, 100.5))
   end)
end)

--- walletsign.nginx_client: call the wallet APIs from an nginx handler
-- without blocking the worker (docs/openresty.md, "Calling the APIs from a
-- handler").
--
--   local c = require("walletsign.nginx").client{
--      base_url = "https://api.halogen.example", auth = auth,
--      location = "/_walletsign/halogen",       -- the internal location below
--      shared_dict = "walletsign_rate",         -- the rate limit, shared by the workers
--   }
--   local account, err = c:query("get_account", {accountId = "account_123"})
--
-- Every rule of a call (the request checks, signing each attempt, which
-- failures and statuses are retried and how long to wait, the error an
-- answer becomes, verifying a signed answer) is the C core's: it hands out
-- steps (core wsig_call: token, send, wait, done) and this file only moves
-- bytes. The bytes travel through nginx's own HTTP client: a subrequest
-- (ngx.location.capture) to an internal location that proxy_passes to an
-- upstream with keep-alive and TLS verification. Waits are ngx.sleep.
-- Subrequests need a request: rewrite, access and content phases only (an
-- ngx.timer callback gets a clear error).
local core = require "walletsign.core"

local ngx = ngx
local M = {}

-- The methods a subrequest can carry (lua-nginx-module's ngx.HTTP_*).
local METHODS = {
   GET = ngx.HTTP_GET, HEAD = ngx.HTTP_HEAD, PUT = ngx.HTTP_PUT, POST = ngx.HTTP_POST,
   DELETE = ngx.HTTP_DELETE, OPTIONS = ngx.HTTP_OPTIONS, PATCH = ngx.HTTP_PATCH,
   TRACE = ngx.HTTP_TRACE, MKCOL = ngx.HTTP_MKCOL, COPY = ngx.HTTP_COPY, MOVE = ngx.HTTP_MOVE,
   PROPFIND = ngx.HTTP_PROPFIND, PROPPATCH = ngx.HTTP_PROPPATCH, LOCK = ngx.HTTP_LOCK,
   UNLOCK = ngx.HTTP_UNLOCK,
}

-- Phases in which ngx.location.capture can run.
local PHASES = {rewrite = true, access = true, content = true}

local LOCK_TTL = 0.1     -- s: a worker that dies holding the bucket's lock frees it by then
local LOCK_SPIN = 0.001  -- s between tries

local Client = {}
Client.__index = Client

---------------------------------------------------------------- the rate limit

-- The bucket of one rate_key lives in the shared dict as "tokens last";
-- the arithmetic is the core's (core.rate_take). A read-modify-write of
-- it must not interleave with another worker's: Debian ships no
-- resty.lock, so a dict:add() on a lock key (atomic across workers, with
-- a TTL in case a worker dies holding it) guards the few lines between.
local function with_bucket(self, fn)
   local dict, key = self.dict, self.rate_key
   local lock = key .. "#lock"
   while true do
      local ok, err = dict:add(lock, true, LOCK_TTL)
      if ok then break end
      if err ~= "exists" then -- fail closed: no token without the shared bucket
         error("walletsign.nginx client: the rate limit's lua_shared_dict refused its lock: "
               .. tostring(err), 0)
      end
      ngx.sleep(LOCK_SPIN)
   end
   local state = dict:get(key)
   local tokens, last
   if state then
      local t, l = state:match("^(%S+) (%S+)$")
      tokens, last = tonumber(t), tonumber(l)
   end
   local result
   tokens, last, result = fn(tokens, last)
   dict:set(key, string.format("%.17g %.17g", tokens, last))
   dict:delete(lock)
   return result
end

-- The bucket's clock: the wall clock, the same for every worker, in
-- microseconds (ngx.now() keeps milliseconds; its truncation alone can let
-- a token go a millisecond early, which the server's bucket notices).
local ffi = require "ffi"
ffi.cdef [[
typedef struct { long sec; long nsec; } walletsign_timespec;
int clock_gettime(int clock_id, walletsign_timespec *ts);
]]
local CLOCK_REALTIME = 0
local ts = ffi.new("walletsign_timespec")

local function now()
   if ffi.C.clock_gettime(CLOCK_REALTIME, ts) == 0 then
      return tonumber(ts.sec) + tonumber(ts.nsec) * 1e-9
   end
   ngx.update_time()
   return ngx.now()
end

-- ngx.sleep counts whole milliseconds from nginx's cached time, which lags
-- behind while the worker runs: without this it may end a wait up to a few
-- milliseconds early. A wait the core asks for is a minimum.
local function sleep_at_least(seconds)
   ngx.update_time()
   ngx.sleep(math.ceil(seconds * 1000 + 1) / 1000)
end

-- A token for an attempt (core.rate_take): the wait before sending, and
-- whether a token was taken (for after the wait) or not (ask again then).
local function take_token(self, max_wait)
   local rate, burst = self.core:_rate()
   if not rate then return 0, true end
   if not self.dict then -- one bucket per worker
      local wait, taken
      wait, taken, self.tokens, self.last = core.rate_take(self.tokens, self.last, now(), rate,
                                                           burst, max_wait)
      return wait, taken
   end
   local taken
   local wait = with_bucket(self, function(tokens, last)
      local wait
      wait, taken, tokens, last = core.rate_take(tokens, last, now(), rate, burst, max_wait)
      return tokens, last, wait
   end)
   return wait, taken
end

-- A token taken for a wait the call did not begin (its deadline) goes back.
local function refund_token(self)
   local rate, burst = self.core:_rate()
   if not self.dict then
      self.tokens, self.last = core.rate_refund(self.tokens, self.last, now(), rate, burst)
      return
   end
   with_bucket(self, function(tokens, last)
      tokens, last = core.rate_refund(tokens, last, now(), rate, burst)
      return tokens, last
   end)
end

local function answer_seen(self)
   if not self.core:_rate() then return end
   if not self.dict then
      self.last = core.rate_answer_seen(self.last, now())
      return
   end
   if self.started then return end -- the bucket's clock, once started, stays started
   with_bucket(self, function(tokens, last)
      local _, burst = self.core:_rate()
      return tokens or burst, core.rate_answer_seen(last, now())
   end)
   self.started = true
end

---------------------------------------------------------------- one attempt

-- What nginx saw of the upstream, as the subrequest's header filter kept
-- it (M.header_filter): nginx answers 502/504 itself when no answer came.
local function last_value(v)
   return v and tostring(v):match("([^,%s]+)%s*$")
end

local function no_answer(up)
   return not up or last_value(up.header) == nil or last_value(up.header) == "-"
end

-- A subrequest that got no answer, as the core's transport failure.
local function failure(res, up)
   local connected = up and last_value(up.connect) and last_value(up.connect) ~= "-"
   local timeout = res.status == ngx.HTTP_GATEWAY_TIMEOUT
   if not connected then
      return {status = timeout and "timeout" or "transport_error", outcome = "not_sent",
              reached = false, cause = "no connection to the upstream",
              message = "no connection to the upstream (refused, unreachable or TLS refused: "
                 .. "nginx's error log says which)"}
   end
   return {status = timeout and "timeout" or "transport_error", outcome = "transient",
           reached = true, cause = timeout and "upstream timed out" or "no answer",
           message = timeout and "the upstream did not answer in time (proxy_read_timeout)"
              or "the connection closed before an answer"}
end

local function send(self, call, step)
   local method = METHODS[step.method]
   if not method then
      call:failure{status = "transport_error", outcome = "failed", reached = false,
                   message = "an nginx subrequest cannot carry the method " .. step.method}
      return
   end
   -- Always a body (maybe ""): without one, a POST/PUT subrequest would
   -- forward the client's own request body.
   local ctx = {walletsign_send = step}
   local res = ngx.location.capture(self.location, {method = method, body = step.body, ctx = ctx})
   if not ctx.walletsign_prepared then
      call:failure{status = "transport_error", outcome = "failed", reached = false,
                   message = "the location " .. self.location .. " did not run "
                      .. "walletsign.nginx_client.prepare() (see docs/openresty.md)"}
      return
   end
   local up = ctx.walletsign_upstream
   answer_seen(self) -- an answer or a failure: the bucket's clock may start
   if no_answer(up) then
      call:failure(failure(res, up))
      return
   end
   if res.truncated then
      call:failure{status = "transport_error", outcome = "transient", reached = true,
                   cause = "answer cut short", message = "the answer was cut short"}
      return
   end
   call:answer(res.status, res.header, res.body)
end

---------------------------------------------------------------- a call

local function log_event(ev)
   local level = ev.kind == "retry" and ngx.WARN or ngx.INFO
   ngx.log(level, "walletsign: ", ev.kind, " ", ev.method, " ", ev.path, ": ", ev.cause,
           ", attempt ", ev.attempt, " in ", string.format("%.3f", ev.delay), " s")
end

local function run(self, call, err)
   if not call then return nil, err end
   local phase = ngx.get_phase()
   if not PHASES[phase] then
      error("walletsign.nginx client: a subrequest needs a request (rewrite, access or "
            .. "content phase), not the " .. phase .. " phase; from an ngx.timer, use a "
            .. "location and ngx.location.capture from a request, or ws.client outside nginx", 3)
   end
   local kind, step = call:next()
   while true do
      if kind == "token" then
         local wait, taken = take_token(self, step)
         call:token(wait, taken)
         kind, step = call:next()
         if kind == "done" and taken and wait > 0 then
            refund_token(self) -- taken for a wait past the deadline
         end
      elseif kind == "send" then
         send(self, call, step)
         kind, step = call:next()
      elseif kind == "wait" then
         self.on_event(step)
         sleep_at_least(step.delay)
         kind, step = call:next()
      else
         return call:result()
      end
   end
end

--- c:query(name [, payload]) -> decoded result | nil, err (as ws.client)
function Client:query(name, payload)
   return run(self, self.core:_start_query(name, payload))
end

--- c:command(name [, payload [, {idempotency_key=}]]) -> decoded result | nil, err
function Client:command(name, payload, opts)
   return run(self, self.core:_start_command(name, payload, opts))
end

--- c:call(method, path [, params]) -> the JSON-RPC result | nil, err
function Client:call(method, path, params)
   return run(self, self.core:_start_call(method, path, params))
end

--- c:request(method, path [, {json=, body=, headers=}]) -> {status=, headers=, body=, attempts=} | nil, err
function Client:request(method, path, opts)
   return run(self, self.core:_start_request(method, path, opts))
end

function Client:close()
   self.core:close()
end

--- The client: ws.client's options (base_url=, auth=, timeout=, retries=,
-- rate_limit=, max_429_attempts=, max_retry_after=, backoff=,
-- max_response=, response_verifier=, user_agent=, ...) plus
--   location    = the internal location that proxies (required)
--   shared_dict = a lua_shared_dict for the rate limit shared by the workers
--                 (nil: one bucket per worker)
--   rate_key    = the bucket's name in it (default: base_url); clients that
--                 share a credential share a bucket
--   on_event    = function(event) before each wait (default: nginx's log)
-- TLS is the internal location's (proxy_ssl_verify, proxy_ssl_trusted_certificate);
-- verify=/ca_path= do not apply and are refused.
function M.new(opts)
   assert(type(opts) == "table", "walletsign.nginx.client: options table expected")
   local location = opts.location
   if type(location) ~= "string" or location:sub(1, 1) ~= "/" then
      error("bad option 'location' (the internal location's path, e.g. \"/_walletsign/api\")", 2)
   end
   if opts.verify ~= nil or opts.ca_path ~= nil or opts.connect_timeout ~= nil then
      error("bad option (verify, ca_path and connect_timeout are the internal location's: "
            .. "proxy_ssl_verify, proxy_ssl_trusted_certificate, proxy_connect_timeout)", 2)
   end
   local dict
   if opts.shared_dict ~= nil then
      dict = ngx.shared[opts.shared_dict]
      if not dict then
         error("bad option 'shared_dict' (no lua_shared_dict " .. tostring(opts.shared_dict) .. ")", 2)
      end
   end
   if type(opts.rate_limit) == "userdata" then -- a ws.redis_rate_limit would block the worker
      error("bad option 'rate_limit' ({rate, burst} or false; share it with shared_dict =)", 2)
   end
   if opts.on_event ~= nil and type(opts.on_event) ~= "function" then
      error("bad option 'on_event' (function expected)", 2)
   end
   local c, warning = core.nginx_client(opts)
   if not c then return nil, warning end
   return setmetatable({
      core = c, location = location, dict = dict,
      rate_key = "walletsign-rate " .. tostring(opts.rate_key or opts.base_url),
      on_event = opts.on_event or log_event,
   }, Client), warning
end

---------------------------------------------------------------- the internal location

--- rewrite_by_lua of the internal location: what the call signed is
-- exactly what leaves. The subrequest inherited every header of the
-- client's request (cookies, authorization...): all go, but the body's
-- framing, which nginx set from the signed body; then the call's headers
-- and the request target. Anything that is not one of our subrequests is
-- refused.
function M.prepare()
   local ctx = ngx.ctx
   local step = ctx.walletsign_send
   if not step or not ngx.is_subrequest then
      return ngx.exit(ngx.HTTP_FORBIDDEN)
   end
   for name in pairs(ngx.req.get_headers(0, true)) do
      local lower = name:lower()
      if lower ~= "content-length" then
         ngx.req.clear_header(name)
      end
   end
   local values = {}
   for _, h in ipairs(step.headers) do
      local list = values[h[1]]
      if not list then
         list = {}
         values[h[1]] = list
      end
      list[#list + 1] = h[2]
   end
   for name, list in pairs(values) do
      ngx.req.set_header(name, #list == 1 and list[1] or list)
   end
   ngx.req.set_header("Host", step.host)
   ngx.var.walletsign_target = step.target
   ctx.walletsign_prepared = true
end

--- header_filter_by_lua of the internal location: keeps what nginx saw of
-- the upstream, so the caller can tell an answer from nginx's own 502/504.
function M.header_filter()
   local ctx = ngx.ctx
   if ctx.walletsign_send then
      ctx.walletsign_upstream = {
         status = ngx.var.upstream_status,
         connect = ngx.var.upstream_connect_time,
         header = ngx.var.upstream_header_time,
      }
   end
end

return M

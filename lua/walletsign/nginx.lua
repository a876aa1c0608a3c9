--- walletsign.nginx: sign and verify inside OpenResty / nginx + lua-nginx-module.
--
-- In nginx, walletsign signs and verifies; nginx does the I/O. Never call
-- ws.client from a request handler: libcurl blocks, and a blocked call
-- stalls every request of the worker. Use proxy_pass (or cosockets).
--
--   init_by_lua_block {
--       local ws = require "walletsign"
--       local wsn = require "walletsign.nginx"
--       -- made once in the master; each worker is a fork and the core gives
--       -- every worker its own message session automatically
--       -- ws.assert, not assert: nginx prints a table error as "unknown error"
--       merchant = ws.assert(ws.message_auth{key = ws.assert(ws.key.from_hex(os.getenv "MERCHANT_KEY_HEX"))})
--       callbacks = ws.assert(ws.message_verifier{trusted = {os.getenv "WALLET_MANAGER_ADDRESS"},
--                                                 replay_cache = false})
--   }
--   location /access/ {
--       access_by_lua_block { require("walletsign.nginx").sign_upstream(merchant) }
--       proxy_pass http://wallet_manager;     # no URI part: the signed URI is forwarded as is
--   }
--   location = /wallet/callback {
--       set $walletsign_verdict "";           # "ok" or the reason, for access_log
--       access_by_lua_block { require("walletsign.nginx").verify_callback(callbacks) }
--       -- several hosts: verify_callback(callbacks, {replay = {redis = {host = ..., port = ...}}})
--       log_by_lua_block { require("walletsign.nginx").release_on_error() } -- 5xx: redelivery accepted
--       proxy_pass http://merchant_app;       # ngx.ctx.walletsign holds the verified sender
--   }
--   location = /metrics {                     # Prometheus text; counters in lua_shared_dict walletsign_metrics
--       allow 127.0.0.1; deny all;
--       content_by_lua_block { require("walletsign.nginx").metrics() }
--   }
--
-- See docs/openresty.md for a complete nginx.conf.
local ws = require "walletsign"

local ngx = ngx
local M = {}

--- The request body as a string ("" when there is none), also when nginx
-- spooled it to a temporary file (client_body_buffer_size exceeded).
function M.read_body()
   ngx.req.read_body()
   local body = ngx.req.get_body_data()
   if body then return body end
   local path = ngx.req.get_body_file()
   if not path then return "" end
   local f, err = io.open(path, "rb")
   if not f then return nil, "cannot read the spooled request body: " .. tostring(err) end
   body, err = f:read("*a")
   f:close()
   if not body then return nil, "cannot read the spooled request body: " .. tostring(err) end
   return body
end

local function fail(status, message)
   ngx.log(ngx.ERR, "walletsign: ", message)
   return ngx.exit(status)
end

---------------------------------------------------------------- metrics

local METRICS_DICT = "walletsign_metrics"

local METRIC_HELP = {
   walletsign_callbacks_total = "Callbacks checked by verify_callback, by verdict (ok, rejected, error) and reason.",
   walletsign_upstream_signed_total = "Requests signed by sign_upstream, by protocol and verdict (ok, error).",
   walletsign_callbacks_released_total = "Accepted callbacks released by release_on_error after a 5xx answer, by verdict (ok, error).",
}

-- A Prometheus label value: backslash, double quote and newline escaped.
local function label_value(v)
   return (tostring(v):gsub("[\\\"\n]", {["\\"] = "\\\\", ["\""] = "\\\"", ["\n"] = "\\n"}))
end

-- The sample name with its labels, e.g. walletsign_callbacks_total{verdict="ok"};
-- it is also the key of the counter in the shared dictionary.
local function sample(metric, labels)
   local parts = {}
   for i = 1, #labels, 2 do
      parts[#parts + 1] = labels[i] .. '="' .. label_value(labels[i + 1]) .. '"'
   end
   return metric .. "{" .. table.concat(parts, ",") .. "}"
end

-- Counting is best effort: without the dictionary there are no metrics, and
-- the request goes on.
local function count_sample(opts, key)
   local dict = ngx.shared[opts and opts.metrics_dict or METRICS_DICT]
   if not dict then return end
   local _, err = dict:incr(key, 1, 0)
   if err then ngx.log(ngx.WARN, "walletsign: metrics: ", err) end
end

local function count(opts, metric, labels)
   return count_sample(opts, sample(metric, labels))
end

-- The samples counted on every request, built once each (building one
-- costs about as much as the increment: issue #15's profile).
local function memoized(build)
   return setmetatable({}, {__index = function(t, k)
      local v = build(k)
      rawset(t, k, v)
      return v
   end})
end
local SIGNED_OK = memoized(function(protocol)
   return sample("walletsign_upstream_signed_total", {"protocol", protocol, "verdict", "ok"})
end)
local CALLBACK_OK = sample("walletsign_callbacks_total", {"verdict", "ok"})

local function metrics_text(dict)
   local by_metric, names = {}, {}
   for _, key in ipairs(dict:get_keys(0)) do
      local metric = key:match("^([%w_]+){")
      local value = dict:get(key)
      if metric and value then
         if not by_metric[metric] then by_metric[metric] = {}; names[#names + 1] = metric end
         table.insert(by_metric[metric], key .. " " .. string.format("%d", value))
      end
   end
   for metric in pairs(METRIC_HELP) do
      if not by_metric[metric] then by_metric[metric] = {}; names[#names + 1] = metric end
   end
   table.sort(names)
   local out = {}
   for _, metric in ipairs(names) do
      table.sort(by_metric[metric])
      out[#out + 1] = "# HELP " .. metric .. " " .. (METRIC_HELP[metric] or metric)
      out[#out + 1] = "# TYPE " .. metric .. " counter"
      for _, line in ipairs(by_metric[metric]) do out[#out + 1] = line end
   end
   return table.concat(out, "\n") .. "\n"
end

--- Answer the counters in the Prometheus text exposition format
-- (content_by_lua*). opts: {metrics_dict = "walletsign_metrics"}. Expose it
-- to your scraper only (internal address, allow/deny).
function M.metrics(opts)
   local name = opts and opts.metrics_dict or METRICS_DICT
   local dict = ngx.shared[name]
   if not dict then
      return fail(ngx.HTTP_INTERNAL_SERVER_ERROR, "lua_shared_dict " .. name .. " is not defined")
   end
   ngx.status = ngx.HTTP_OK
   ngx.header["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
   ngx.header["Cache-Control"] = "no-store"
   ngx.print(metrics_text(dict))
   return ngx.exit(ngx.HTTP_OK)
end

--- Sign the current request for the upstream (access_by_lua*/rewrite_by_lua*).
-- Signs METHOD, ngx.var.request_uri and the body with any auth (jwt, hmac,
-- message) and sets the headers, so proxy_pass sends a signed request.
-- proxy_pass must forward the URI unchanged (no URI part in proxy_pass), or
-- pass opts.path = the path and query the upstream will see.
-- opts: {method=, path=, metrics_dict=}. Returns the headers; on failure
-- answers 500. Counts walletsign_upstream_signed_total{protocol=,verdict=}.
function M.sign_upstream(auth, opts)
   local protocol = auth:kind()
   local body, err = M.read_body()
   if not body then
      count(opts, "walletsign_upstream_signed_total", {"protocol", protocol, "verdict", "error"})
      return fail(ngx.HTTP_INTERNAL_SERVER_ERROR, err)
   end
   local method = opts and opts.method or ngx.req.get_method()
   local path = opts and opts.path or ngx.var.request_uri
   local headers, serr = auth:sign(method, path, body)
   if not headers then
      count(opts, "walletsign_upstream_signed_total", {"protocol", protocol, "verdict", "error"})
      return fail(ngx.HTTP_INTERNAL_SERVER_ERROR, "signing failed: " .. tostring(serr))
   end
   for name, value in pairs(headers) do
      ngx.req.set_header(name, value)
   end
   count_sample(opts, SIGNED_OK[protocol])
   return headers
end

local function answer(status, body)
   ngx.status = status
   ngx.header["Content-Type"] = "application/json"
   ngx.header["Cache-Control"] = "no-store"
   ngx.print(body)
   return ngx.exit(ngx.HTTP_OK) -- the status above stands; the request ends here
end

---------------------------------------------------------------- callbacks

local VERDICT_VAR = "walletsign_verdict"

-- $walletsign_verdict for access_log; only when the configuration declares
-- it (set $walletsign_verdict "";): reading an undeclared variable gives
-- nil, where writing one raises (and a caught error costs microseconds).
local function set_verdict(value)
   local var = ngx.var
   if var[VERDICT_VAR] ~= nil then var[VERDICT_VAR] = value end
end

-- One header's value for a log line: bounded, printable. Claimed values of a
-- refused callback are the sender's words, so nothing but [%w.-] passes.
local function loggable(v)
   if type(v) == "table" then return "(repeated)" end
   if type(v) ~= "string" then return nil end
   return (v:sub(1, 66):gsub("[^%w.-]", "?"))
end

-- " address=0x.. session=.. sequence=.." from the verified message, or
-- from the request's headers (as claimed) when verification failed.
-- Never the signature.
local function sender_fields(msg, headers)
   local address = msg and msg.address or headers and loggable(headers["x-message-address"])
   local session = msg and msg.session or headers and loggable(headers["x-message-session"])
   local sequence = msg and msg.sequence or headers and loggable(headers["x-message-sequence"])
   local parts = {}
   if address then parts[#parts + 1] = "address=" .. address end
   if session then parts[#parts + 1] = "session=" .. session end
   if sequence then parts[#parts + 1] = "sequence=" .. sequence end
   return #parts > 0 and " (" .. table.concat(parts, " ") .. ")" or ""
end

local function callback_error(opts, reason, status, message)
   set_verdict(reason)
   count(opts, "walletsign_callbacks_total", {"verdict", "error", "reason", reason})
   ngx.log(ngx.ERR, "walletsign: callback not checked: ", reason, ": ", message)
   if status == ngx.HTTP_SERVICE_UNAVAILABLE then
      return answer(status, ws.rpc_error(503, "Service Unavailable"))
   end
   return ngx.exit(status)
end

local function reject(opts, reason, message, who, status, title)
   set_verdict(reason)
   count(opts, "walletsign_callbacks_total", {"verdict", "rejected", "reason", reason})
   ngx.log(ngx.WARN, "walletsign: callback rejected: ", reason, ": ", message, who)
   status = status or ngx.HTTP_UNAUTHORIZED
   return answer(status, ws.rpc_error(status, title or "Unauthorized", {reason = reason}))
end

-- All the request's headers, or nil when there are more than max_headers
-- (ngx.req.get_headers stops there and says "truncated": a signature header
-- past the limit would look missing).
local function request_headers(opts)
   local max_headers = opts and opts.max_headers or 100
   local headers, truncated = ngx.req.get_headers(max_headers)
   if truncated then return nil end
   return headers
end

---------------------------------------------------------------- replay stores
-- verify_callback records each accepted message's replay key in one of two
-- stores: a lua_shared_dict (one machine, every worker) or Redis (every
-- machine, through the cosockets of resty.redis). Both answer reserve() with
-- true (new), false (seen before) or nil, reason, detail (the store cannot
-- answer: the callback is refused with 503, never accepted), and free a
-- reservation with release(). The key and its lifetime are the core's
-- (msg.replay_key, msg.replay_ttl_ms; docs/protocols.md), prefixed as the
-- core's Redis store prefixes them, so nginx and the Python or plain-Lua
-- receivers sharing one Redis refuse each other's replays.

local DEFAULT_PREFIX = "walletsign:"

-- Debian's lua-nginx-redis installs resty.redis as nginx.redis.
local function load_redis_client()
   local ok, mod = pcall(require, "resty.redis")
   if ok then return mod end
   ok, mod = pcall(require, "nginx.redis")
   if ok then return mod end
   error("walletsign.nginx: replay = {redis = ...} needs resty.redis (Debian: lua-nginx-redis)", 0)
end
local redis_client -- loaded on first use: the shared-dict store needs none

local function check_integer(o, name, default, min, max)
   local v = o[name]
   if v == nil then return default end
   if type(v) ~= "number" or v % 1 ~= 0 or v < min or v > max then
      error(string.format("walletsign.nginx: bad replay.redis option '%s' (an integer %d..%d expected)",
                          name, min, max), 0)
   end
   return v
end

local function check_string(o, name, default)
   local v = o[name]
   if v == nil then return default end
   if type(v) ~= "string" or v == "" then
      error("walletsign.nginx: bad replay.redis option '" .. name .. "' (a non-empty string expected)", 0)
   end
   return v
end

-- The rules of the options this store shares with the core's Redis store
-- (timeout range, prefix length, host, port and db) are the core's: a core
-- store is made from them and dropped, which connects nowhere.
local function check_with_core(cfg, o)
   local host = cfg.host:find(":", 1, true) and "[" .. cfg.host .. "]" or cfg.host
   local store, err = ws.redis_replay_store(string.format("redis://%s:%d/%d", host, cfg.port, cfg.db),
                                            {prefix = o.prefix, timeout = o.timeout})
   if not store then
      error("walletsign.nginx: bad replay.redis options: " .. tostring(err), 0)
   end
   store:close()
end

-- A number per (username, password) seen by this process, for pool names.
local credentials_numbers, credentials_count = {}, 0
local function credentials_number(username, password)
   local k = (username or "") .. "\0" .. password
   local n = credentials_numbers[k]
   if not n then
      credentials_count = credentials_count + 1
      n = "account" .. credentials_count
      credentials_numbers[k] = n
   end
   return n
end

-- The Redis settings, checked once per options table (weak keys: a table
-- built per request is checked per request, one built in init_by_lua* once).
local redis_configs = setmetatable({}, {__mode = "k"})

local function redis_config(o)
   local cfg = redis_configs[o]
   if cfg then return cfg end
   if type(o) ~= "table" then
      error("walletsign.nginx: bad option 'replay.redis' (a table expected)", 0)
   end
   cfg = {
      host = check_string(o, "host", "127.0.0.1"),
      port = check_integer(o, "port", 6379, 1, 65535),
      db = check_integer(o, "db", 0, 0, 1000000),
   }
   check_with_core(cfg, o) -- before any arithmetic on them: timeout and prefix are fit
   cfg.username = check_string(o, "username", nil)
   cfg.password = check_string(o, "password", nil)
   cfg.pool_size = check_integer(o, "pool_size", 32, 1, 100000)
   cfg.idle_timeout_ms = check_integer(o, "idle_timeout", 60, 1, 86400) * 1000
   -- nil or 0: 0.5 s, the core's default (0 would be nginx's 60 s socket default)
   cfg.timeout_ms = math.ceil((o.timeout == nil or o.timeout == 0) and 500 or o.timeout * 1000)
   cfg.prefix = o.prefix or DEFAULT_PREFIX
   if cfg.username and not cfg.password then
      error("walletsign.nginx: bad replay.redis option 'username' (needs a password)", 0)
   end
   -- A pooled connection has been AUTHed and SELECTed for one server,
   -- account and database: the pool's name says which, the account by a
   -- number of this process (pools are per worker), never by the password
   -- or a digest of it (a debug log shows pool names).
   cfg.pool = string.format("walletsign:%s:%d:%d:%s", cfg.host, cfg.port, cfg.db,
                            cfg.password and credentials_number(cfg.username, cfg.password) or "-")
   cfg.where = "redis " .. cfg.host .. ":" .. cfg.port
   redis_client = redis_client or load_redis_client()
   redis_configs[o] = cfg
   return cfg
end

-- A connection from the keep-alive pool, or a new one; AUTH and SELECT run
-- on a new connection only (a pooled one already did them).
local function redis_connect(cfg)
   local red, err = redis_client:new()
   if not red then return nil, err end
   red:set_timeout(cfg.timeout_ms) -- connect, send and each read
   local ok
   ok, err = red:connect(cfg.host, cfg.port, {pool = cfg.pool, pool_size = cfg.pool_size})
   if not ok then return nil, "connect: " .. tostring(err) end
   if red:get_reused_times() == 0 then
      if cfg.password then
         if cfg.username then
            ok, err = red:auth(cfg.username, cfg.password)
         else
            ok, err = red:auth(cfg.password)
         end
         if not ok then red:close(); return nil, "AUTH: " .. tostring(err) end
      end
      if cfg.db ~= 0 then
         ok, err = red:select(cfg.db)
         if not ok then red:close(); return nil, "SELECT: " .. tostring(err) end
      end
   end
   return red
end

-- Run one command: its reply (ngx.null included), or nil, detail. The
-- connection goes back to the pool after a reply, and is closed after any
-- failure (a timeout leaves an answer in flight), as the core's client does.
local function redis_command(cfg, cmd, ...)
   local red, err = redis_connect(cfg)
   if not red then return nil, cfg.where .. ": " .. err end
   local res
   res, err = red[cmd](red, ...)
   if res == nil or res == false then -- nil: I/O error or timeout; false: an error reply
      red:close()
      return nil, cfg.where .. ": " .. cmd:upper() .. ": " .. tostring(err)
   end
   local ok, kerr = red:set_keepalive(cfg.idle_timeout_ms, cfg.pool_size)
   if not ok then ngx.log(ngx.WARN, "walletsign: ", cfg.where, ": keepalive: ", kerr) end
   return res
end

local redis_store = {}

-- One SET key 1 NX PX ttl: a single key, so it works unchanged on Redis
-- Cluster (docs/protocols.md, replay protection).
function redis_store.reserve(cfg, key, ttl_ms)
   local res, err = redis_command(cfg, "set", cfg.prefix .. key, "1", "NX", "PX",
                                  string.format("%d", ttl_ms))
   if res == nil then return nil, "store_unavailable", err end
   if res == ngx.null then return false end -- NX: the key was there
   if res == "OK" then return true end
   -- Not a Redis SET answer (a proxy, another server): fail closed, as the
   -- core's store does (wsig__replay_store_decide).
   return nil, "store_unavailable", cfg.where .. ": SET NX answered something other than OK or nil"
end

function redis_store.release(cfg, key)
   local res, err = redis_command(cfg, "del", cfg.prefix .. key)
   if res == nil then return nil, err end
   return true
end

local dict_store = {}

-- safe_add never evicts a live entry to make room (an evicted entry would
-- let its replay through): a full dictionary refuses, and so does the store.
function dict_store.reserve(cfg, key, ttl_ms)
   local ok, err = cfg.dict:safe_add(DEFAULT_PREFIX .. key, true, ttl_ms / 1000)
   if ok then return true end
   if err == "exists" then return false end
   return nil, "replay_store_full", "replay dictionary " .. cfg.name .. ": " .. tostring(err)
end

function dict_store.release(cfg, key)
   cfg.dict:delete(DEFAULT_PREFIX .. key)
   return true
end

-- The store verify_callback's options name: replay = {redis = {...}}, or
-- the lua_shared_dict replay_dict (default). nil, detail when the
-- dictionary is not declared.
local function replay_store(opts)
   local replay = opts and opts.replay
   if replay ~= nil then
      if type(replay) ~= "table" or replay.redis == nil then
         error("walletsign.nginx: bad option 'replay' ({redis = {host=, port=, ...}} expected)", 0)
      end
      return redis_store, redis_config(replay.redis)
   end
   local name = opts and opts.replay_dict or "walletsign_replay"
   local dict = ngx.shared[name]
   if not dict then return nil, "lua_shared_dict " .. name .. " is not defined" end
   return dict_store, {dict = dict, name = name}
end

--- Verify a signed callback (access_by_lua*). The verifier must be made
-- with replay_cache = false: replays are caught here, in a store every
-- worker shares: a lua_shared_dict (atomic safe_add), or with
-- replay = {redis = {...}} a Redis every machine shares (SET NX PX).
-- opts: {replay_dict = "walletsign_replay", replay = {redis = {host =
-- "127.0.0.1", port = 6379, username =, password =, db = 0, pool_size = 32,
-- idle_timeout = 60, timeout = 0.5, prefix = "walletsign:"}},
-- metrics_dict = "walletsign_metrics", max_headers = 100 (0: no limit)}.
-- On success sets ngx.ctx.walletsign = {address=, session=, sequence=,
-- timestamp=, replay_key=, replay_ttl_ms=} and returns it; on failure
-- answers 401 with a JSON-RPC error body
-- {"error":{"code":401,"message":"Unauthorized","data":{"reason":R}}}
-- (431 with reason too_many_headers for more than max_headers headers)
-- and logs the reason at WARN with the claimed sender, session and sequence.
-- When the store cannot answer (Redis unreachable or answering an error, a
-- full dictionary) it answers 503 (the sender redelivers later): a
-- callback is never accepted unchecked.
-- Sets $walletsign_verdict (when declared) to "ok" or the reason, and counts
-- walletsign_callbacks_total{verdict=,reason=}. With release_on_error() in
-- the location's log_by_lua*, a callback whose handler answers 5xx is
-- released, so its redelivery is accepted.
function M.verify_callback(verifier, opts)
   local store, cfg = replay_store(opts)
   if not store then
      return callback_error(opts, "internal_error", ngx.HTTP_INTERNAL_SERVER_ERROR, cfg)
   end
   local headers = request_headers(opts)
   if not headers then
      return reject(opts, "too_many_headers", "more than max_headers request headers", "",
                    431, "Request Header Fields Too Large")
   end
   local body, err = M.read_body()
   if not body then
      return callback_error(opts, "internal_error", ngx.HTTP_INTERNAL_SERVER_ERROR, err)
   end

   local msg, verr = verifier:verify(headers, body)
   if not msg then
      if verr.kind ~= "invalid" then
         return callback_error(opts, "internal_error", ngx.HTTP_INTERNAL_SERVER_ERROR,
                               "verification failed: " .. tostring(verr))
      end
      return reject(opts, verr.reason, verr.message, sender_fields(nil, headers))
   end

   local fresh, reason, detail = store.reserve(cfg, msg.replay_key, msg.replay_ttl_ms)
   if fresh == false then
      return reject(opts, "replay", "message (session, sequence) already seen", sender_fields(msg))
   elseif not fresh then
      return callback_error(opts, reason, ngx.HTTP_SERVICE_UNAVAILABLE, detail .. sender_fields(msg))
   end

   set_verdict("ok")
   count_sample(opts, CALLBACK_OK)
   -- The pieces as arguments: ngx.log joins them only when INFO is logged.
   ngx.log(ngx.INFO, "walletsign: callback accepted (address=", msg.address, " session=", msg.session,
           " sequence=", msg.sequence, ")")
   local ctx = ngx.ctx
   ctx.walletsign = msg
   ctx.walletsign_reservation = {store = store, cfg = cfg, key = msg.replay_key, msg = msg}
   return msg
end

-- The release of a Redis reservation, in a timer: the log phase, where
-- the final status is known, cannot use cosockets; a zero-delay timer runs
-- right after it, also when the worker is shutting down (premature).
local function release_later(premature, opts, r)
   local ok, err = r.store.release(r.cfg, r.key)
   if not ok then
      count(opts, "walletsign_callbacks_released_total", {"verdict", "error"})
      ngx.log(ngx.ERR, "walletsign: callback not released: ", err, r.who,
              premature and " (worker exiting)" or "")
      return
   end
   count(opts, "walletsign_callbacks_released_total", {"verdict", "ok"})
   ngx.log(ngx.WARN, "walletsign: callback released after a ", r.status, " answer", r.who)
end

--- Free the replay reservation of a callback that verify_callback accepted
-- when the answer is a 5xx (log_by_lua* of the callback location): the
-- handler or the upstream failed, the sender will redeliver, and the
-- redelivery is then accepted (once: it reserves again). Any other status
-- keeps the reservation, and so does a 5xx of nginx's own after an upstream
-- took the callback without answering (a 504 after proxy_read_timeout, a
-- reset after the send): the upstream may have processed it. An upstream
-- that answered 5xx itself, or that could not be connected to, releases. A shared-dict reservation is freed at once; a
-- Redis one by a zero-delay timer right after the log phase (cosockets are
-- not allowed there), a few milliseconds after the answer was sent. If
-- nginx dies in between, or Redis cannot be reached, the reservation lives
-- on until it expires (replay_ttl_ms, two windows) and a redelivery before
-- then is refused as a replay. opts: {metrics_dict = "walletsign_metrics"}.
-- Counts walletsign_callbacks_released_total{verdict="ok"|"error"}.
-- True when an upstream took the request but gave no answer (nginx's own
-- 504 after proxy_read_timeout, a connection reset after the send): it may
-- have processed the callback, and a release would let the redelivery be
-- processed a second time. Per upstream tried, $upstream_connect_time is
-- "-" when no connection was made (nothing sent), $upstream_header_time
-- "-" when no answer came; both list the upstreams in the same order.
local function upstream_may_have_processed()
   local connect = ngx.var.upstream_connect_time
   if not connect or connect == "" then return false end -- no upstream: the content handler
   local headers = {}
   for h in (ngx.var.upstream_header_time or ""):gmatch("[^,:%s]+") do headers[#headers + 1] = h end
   local i = 0
   for c in connect:gmatch("[^,:%s]+") do
      i = i + 1
      if c ~= "-" and (headers[i] == nil or headers[i] == "-") then return true end
   end
   return false
end

function M.release_on_error(opts)
   local r = ngx.ctx.walletsign_reservation
   local status = ngx.status
   if not r or status < 500 or status > 599 then return end
   if upstream_may_have_processed() then
      ngx.log(ngx.WARN, "walletsign: callback not released: the upstream took it and gave no answer",
              " (", status, "), it may have processed it", r.who)
      return
   end
   ngx.ctx.walletsign_reservation = nil
   r.status = status
   r.who = sender_fields(r.msg)
   if r.store == dict_store then return release_later(false, opts, r) end
   local ok, err = ngx.timer.at(0, release_later, opts, r)
   if not ok then
      count(opts, "walletsign_callbacks_released_total", {"verdict", "error"})
      ngx.log(ngx.ERR, "walletsign: callback not released: cannot start a timer: ", err, r.who)
   end
end

--- A client that calls the wallet APIs without blocking the worker
-- (lua/walletsign/nginx_client.lua; docs/openresty.md, "Calling the APIs
-- from a handler").
function M.client(opts)
   return require("walletsign.nginx_client").new(opts)
end

return M

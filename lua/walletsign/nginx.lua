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
local function count(opts, metric, labels)
   local dict = ngx.shared[opts and opts.metrics_dict or METRICS_DICT]
   if not dict then return end
   local _, err = dict:incr(sample(metric, labels), 1, 0)
   if err then ngx.log(ngx.WARN, "walletsign: metrics: ", err) end
end

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
   count(opts, "walletsign_upstream_signed_total", {"protocol", protocol, "verdict", "ok"})
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

local function set_var(name, value) ngx.var[name] = value end

-- $walletsign_verdict for access_log; only when the configuration declares
-- it (set $walletsign_verdict "";), else ngx.var raises and nothing is set.
local function set_verdict(value)
   pcall(set_var, VERDICT_VAR, value)
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

--- Verify a signed callback (access_by_lua*). The verifier must be made
-- with replay_cache = false: replays are caught here, in a lua_shared_dict
-- that every worker shares, with an atomic add.
-- opts: {replay_dict = "walletsign_replay", metrics_dict = "walletsign_metrics",
-- max_headers = 100 (0: no limit)}.
-- On success sets ngx.ctx.walletsign = {address=, session=, sequence=,
-- timestamp=} and returns it; on failure answers 401 with a JSON-RPC error
-- body {"error":{"code":401,"message":"Unauthorized","data":{"reason":R}}}
-- (431 with reason too_many_headers for more than max_headers headers)
-- and logs the reason at WARN with the claimed sender, session and sequence.
-- Sets $walletsign_verdict (when declared) to "ok" or the reason, and counts
-- walletsign_callbacks_total{verdict=,reason=}.
function M.verify_callback(verifier, opts)
   local dict_name = opts and opts.replay_dict or "walletsign_replay"
   local dict = ngx.shared[dict_name]
   if not dict then
      return callback_error(opts, "internal_error", ngx.HTTP_INTERNAL_SERVER_ERROR,
                            "lua_shared_dict " .. dict_name .. " is not defined")
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

   -- The key and how long it must live are the core's (replay_key,
   -- replay_ttl_ms). safe_add never evicts a live entry to make room (an
   -- evicted entry would let its replay through): a full dictionary refuses.
   local ok, aerr = dict:safe_add("walletsign:" .. msg.replay_key, true, msg.replay_ttl_ms / 1000)
   if not ok then
      if aerr == "exists" then
         return reject(opts, "replay", "message (session, sequence) already seen", sender_fields(msg))
      end
      return callback_error(opts, "replay_store_full", ngx.HTTP_SERVICE_UNAVAILABLE,
                            "replay dictionary " .. dict_name .. ": " .. tostring(aerr))
   end

   set_verdict("ok")
   count(opts, "walletsign_callbacks_total", {"verdict", "ok"})
   ngx.log(ngx.INFO, "walletsign: callback accepted", sender_fields(msg))
   ngx.ctx.walletsign = msg
   return msg
end

--- A client that calls the wallet APIs without blocking the worker
-- (lua/walletsign/nginx_client.lua; docs/openresty.md, "Calling the APIs
-- from a handler").
function M.client(opts)
   return require("walletsign.nginx_client").new(opts)
end

return M

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
--       merchant = assert(ws.message_auth{key = assert(ws.key.from_hex(os.getenv "MERCHANT_KEY_HEX"))})
--       callbacks = assert(ws.message_verifier{trusted = {os.getenv "WALLET_MANAGER_ADDRESS"},
--                                              replay_cache = false})
--   }
--   location /access/ {
--       access_by_lua_block { require("walletsign.nginx").sign_upstream(merchant) }
--       proxy_pass http://wallet_manager;     # no URI part: the signed URI is forwarded as is
--   }
--   location = /wallet/callback {
--       access_by_lua_block { require("walletsign.nginx").verify_callback(callbacks) }
--       proxy_pass http://merchant_app;       # ngx.ctx.walletsign holds the verified sender
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

--- Sign the current request for the upstream (access_by_lua*/rewrite_by_lua*).
-- Signs METHOD, ngx.var.request_uri and the body with any auth (jwt, hmac,
-- message) and sets the headers, so proxy_pass sends a signed request.
-- proxy_pass must forward the URI unchanged (no URI part in proxy_pass), or
-- pass opts.path = the path and query the upstream will see.
-- opts: {method=, path=}. Returns the headers; on failure answers 500.
function M.sign_upstream(auth, opts)
   local body, err = M.read_body()
   if not body then return fail(ngx.HTTP_INTERNAL_SERVER_ERROR, err) end
   local method = opts and opts.method or ngx.req.get_method()
   local path = opts and opts.path or ngx.var.request_uri
   local headers, serr = auth:sign(method, path, body)
   if not headers then
      return fail(ngx.HTTP_INTERNAL_SERVER_ERROR, "signing failed: " .. tostring(serr))
   end
   for name, value in pairs(headers) do
      ngx.req.set_header(name, value)
   end
   return headers
end

local function answer(status, body)
   ngx.status = status
   ngx.header["Content-Type"] = "application/json"
   ngx.header["Cache-Control"] = "no-store"
   ngx.print(body)
   return ngx.exit(ngx.HTTP_OK) -- the status above stands; the request ends here
end

local function reject(reason, message)
   ngx.log(ngx.WARN, "walletsign: callback rejected: ", reason, ": ", message)
   return answer(ngx.HTTP_UNAUTHORIZED, ws.rpc_error(401, "Unauthorized", {reason = reason}))
end

--- Verify a signed callback (access_by_lua*). The verifier must be made
-- with replay_cache = false: replays are caught here, in a lua_shared_dict
-- that every worker shares, with an atomic add.
-- opts: {replay_dict = "walletsign_replay"}.
-- On success sets ngx.ctx.walletsign = {address=, session=, sequence=,
-- timestamp=} and returns it; on failure answers 401 with a JSON-RPC error
-- body {"error":{"code":401,"message":"Unauthorized","data":{"reason":R}}}
-- and logs the reason at WARN.
function M.verify_callback(verifier, opts)
   local dict_name = opts and opts.replay_dict or "walletsign_replay"
   local dict = ngx.shared[dict_name]
   if not dict then
      return fail(ngx.HTTP_INTERNAL_SERVER_ERROR, "lua_shared_dict " .. dict_name .. " is not defined")
   end
   local body, err = M.read_body()
   if not body then return fail(ngx.HTTP_INTERNAL_SERVER_ERROR, err) end

   local msg, verr = verifier:verify(ngx.req.get_headers(), body)
   if not msg then
      if verr.kind ~= "invalid" then
         return fail(ngx.HTTP_INTERNAL_SERVER_ERROR, "verification failed: " .. tostring(verr))
      end
      return reject(verr.reason, verr.message)
   end

   -- The key and how long it must live are the core's (replay_key,
   -- replay_ttl_ms). safe_add never evicts a live entry to make room (an
   -- evicted entry would let its replay through): a full dictionary refuses.
   local ok, aerr = dict:safe_add("walletsign:" .. msg.replay_key, true, msg.replay_ttl_ms / 1000)
   if not ok then
      if aerr == "exists" then
         return reject("replay", "message (session, sequence) already seen")
      end
      ngx.log(ngx.ERR, "walletsign: replay dictionary ", dict_name, ": ", aerr)
      return answer(ngx.HTTP_SERVICE_UNAVAILABLE, ws.rpc_error(503, "Service Unavailable"))
   end

   ngx.ctx.walletsign = msg
   return msg
end

return M

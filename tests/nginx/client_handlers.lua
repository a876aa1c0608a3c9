-- Handlers of tests/nginx/client_cases.lua's test locations: each calls an
-- API through walletsign.nginx's client (apis and credentials come from the
-- documented init_by_lua_block) and answers JSON the test reads.
local ws = require "walletsign"
local wsn = require "walletsign.nginx"

local M = {}

local function reply(res, err)
   local doc = {worker = ngx.worker.id(), pid = ngx.worker.pid()}
   if res == nil then
      doc.ok = false
      doc.err = {kind = err.kind, reason = err.reason, http_status = err.http_status,
                 code = err.code, message = err.message, retry_after = err.retry_after,
                 text = tostring(err)}
   else
      doc.ok = true
      doc.result = res
   end
   ngx.header["Content-Type"] = "application/json"
   ngx.say(ws._json_encode(doc))
end

local function args() return ngx.req.get_uri_args() end

function M.query()
   local a = args()
   reply(apis.halogen:query(a.name or "get_client_profile", a.payload))
end

function M.command()
   local a = args()
   reply(apis.halogen:command("create_investment_request",
                              {accountId = "account_123", fundId = "fund_abc", amount = 100},
                              {idempotency_key = a.key}))
end

function M.rpc()
   reply(apis.wallet_manager:call("POST", "/access/get_address", {chain_type = "evm", chain_id = 1}))
end

-- c:request with a fault for the mock in an extra header.
function M.request()
   local a = args()
   local res, err = apis.halogen:request("POST", "/query", {
      json = {name = "get_client_profile", payload = {}},
      headers = {["X-Mock-Fault"] = a.fault}})
   reply(res and {status = res.status, attempts = res.attempts, body = res.body}, err)
end

-- A client per test location, made in the handler (as a site may).
local clients = {}
function M.client_at(location, opts)
   local a = args()
   local c = clients[location]
   if not c then
      local o = {base_url = a.base, auth = credentials.halogen, location = location}
      for k, v in pairs(opts or {}) do o[k] = v end
      c = assert(wsn.client(o))
      clients[location] = c
   end
   reply(c:query("get_client_profile"))
end

-- An HMAC client (the mock's built-in key): the path and query are signed,
-- so the mock accepts only a target that arrives byte for byte as signed.
function M.hmac_target()
   local a = args()
   local c = clients.hmac
   if not c then
      c = assert(wsn.client{base_url = a.base, location = "/_t/hmac",
                            auth = assert(ws.hmac_auth{api_key = "test-api-key", secret = "your-secret-key"})})
      clients.hmac = c
   end
   local res, err = c:request("GET", a.target)
   reply(res and {status = res.status, body = res.body}, err)
end

-- From an ngx.timer: the client says why it cannot run there.
function M.timer()
   local dict = ngx.shared.walletsign_rate
   dict:delete("test:timer")
   ngx.timer.at(0, function()
      local ok, err = pcall(apis.halogen.query, apis.halogen, "get_client_profile")
      dict:set("test:timer", ok and "allowed" or tostring(err))
   end)
   for _ = 1, 50 do
      if dict:get("test:timer") then break end
      ngx.sleep(0.01)
   end
   ngx.say(dict:get("test:timer") or "no answer from the timer")
end

return M

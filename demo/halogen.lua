-- Halogen Wallet API from Lua (5.4 or LuaJIT): a query, a command and an
-- error returned as a value. Reads WALLETSIGN_BASE_URL, HALOGEN_WALLET_KEY_ID
-- and HALOGEN_WALLET_PRIVATE_KEY_PATH (the key made by `walletsign keygen p256`).
local ws = require "walletsign"

local function ok(text) print("✔ " .. text); io.stdout:flush() end
local function fail(text) print("✘ Lua: " .. text); io.stdout:flush(); os.exit(1) end
-- need(what, value, err): walletsign returns nil, err on expected failures.
local function need(what, value, err)
   if value == nil then fail(what .. ": " .. tostring(err)) end
   return value
end

local key = need("load the key", ws.key.load_file(os.getenv "HALOGEN_WALLET_PRIVATE_KEY_PATH"))
local auth = need("jwt_auth", ws.jwt_auth{key = key, key_id = os.getenv "HALOGEN_WALLET_KEY_ID"})
local client = need("client", ws.client{base_url = os.getenv "WALLETSIGN_BASE_URL", auth = auth,
                                        timeout = 10})

local accounts = need("query list_client_accounts", client:query("list_client_accounts"))
local ids = {}
for i, a in ipairs(accounts.accounts) do ids[i] = a.id end
ok(("query list_client_accounts → %d accounts (%s)"):format(#ids, table.concat(ids, ", ")))

local order = need("command create_investment_request",
   client:command("create_investment_request",
                  {accountId = "account_123", fundId = "fund_def", amount = 250},
                  {idempotency_key = "demo-lua-invest-1"}))
ok("command create_investment_request (account_123, fund_def, 250.00) → requestId " .. order.requestId)

local res, err = client:command("create_investment_request",
   {accountId = "account_123", fundId = "fund_abc", amount = 5000000})
if res ~= nil or not ws.is_error(err) or err.code ~= "ErrInsufficientBalance" then
   fail("expected ErrInsufficientBalance, got " .. tostring(res or err))
end
ok(("5,000,000 into account_123 → nil, err (kind %s, HTTP %d, %s)"):format(
   err.kind, err.status, err.code))
client:close()

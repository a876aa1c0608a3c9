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
      for _, gap in ipairs(g) do
         assert.is_true(gap >= 150, "gap " .. gap .. " ms: the second client did not wait")
      end
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

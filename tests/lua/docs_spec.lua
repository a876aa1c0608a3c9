-- The Lua examples of the Lua docs run as written.
local spec_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = spec_dir .. "/?.lua;" .. package.path
local H = require "helpers"

for _, doc in ipairs{"openresty.md", "quickstart-lua.md"} do
describe("docs/" .. doc, function()
   local text = H.read_file(H.root .. "/docs/" .. doc)
   local n = 0
   for block in text:gmatch("```lua\n(.-)```") do
      n = n + 1
      it("runs Lua example " .. n, function()
         local chunk = assert((loadstring or load)(block, "=docs/" .. doc .. " lua#" .. n))
         local printed = {}
         local env = setmetatable({print = function(...)
            local parts = {}
            for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
            printed[#printed + 1] = table.concat(parts, "\t")
         end}, {__index = _G})
         if setfenv then setfenv(chunk, env) else chunk = assert(load(block, "=doc", "t", env)) end
         chunk()
         assert.is_true(#printed > 0)
      end)
   end
   it("has Lua examples", function()
      assert.is_true(n > 0)
   end)
end)
end

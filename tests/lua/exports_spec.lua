-- The module exports only its entry point: the C core compiled into it stays
-- private (the rockspec's WSIG_EMBEDDED), as the Python module's map does.
local ws = require "walletsign" -- luacheck: ignore (loads walletsign.core)

describe("walletsign.core", function()
   it("exports luaopen_walletsign_core and nothing else", function()
      local path = assert(package.searchpath("walletsign.core", package.cpath))
      local nm = assert(io.popen("nm -D --defined-only '" .. path .. "' 2>&1"))
      local out = nm:read("*a")
      nm:close()
      local exported = {}
      for kind, name in out:gmatch("%x+ (%a) ([%w_]+)") do
         if kind == "T" or kind == "D" or kind == "B" then exported[#exported + 1] = name end
      end
      assert.same({"luaopen_walletsign_core"}, exported)
      assert.is_table(ws)
   end)
end)

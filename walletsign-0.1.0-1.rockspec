-- walletsign for Lua 5.4 and LuaJIT 2.1 (OpenResty): the C core plus a thin shim.
--
--   luarocks --lua-version 5.4 --tree build/lua54 make walletsign-0.1.0-1.rockspec
--   luarocks --lua-version 5.1 --tree build/luajit make walletsign-0.1.0-1.rockspec \
--       LUA_INCDIR=/usr/include/luajit-2.1
--
-- The builtin backend takes compiler flags from luarocks' CFLAGS/LIBFLAG
-- variables; scripts/test-lua.sh passes -std=gnu11 -Werror and -z nodelete.
rockspec_format = "3.0"
package = "walletsign"
version = "0.1.0-1"
-- The source rock carries this tarball (scripts/make-rock.sh makes both and
-- `luarocks install ./walletsign-0.1.0-1.src.rock` unpacks it from the rock);
-- `luarocks make` from a checkout builds the working tree and ignores source.
source = {
   url = "walletsign-0.1.0.tar.gz",
   dir = "walletsign-0.1.0",
}
description = {
   summary = "Sign, send and verify wallet-API requests (Halogen JWT, HMAC, Ethereum-signed messages)",
   detailed = [[
walletsign signs requests for the Halogen Wallet API (ES256/RS256 JWT),
API-key HMAC-SHA256 APIs and the Wallet Manager (secp256k1 X-Message-*
headers), sends them with a libcurl client, and verifies them on the
receiving side. One C core; this rock is its Lua module, for Lua 5.4 and for
LuaJIT/OpenResty (walletsign.nginx signs upstream requests and verifies
callbacks inside nginx).
]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1",
}
external_dependencies = {
   OPENSSL = { header = "openssl/evp.h" },
   -- Debian keeps curl.h under /usr/include/<triplet>/curl, which luarocks'
   -- header probe does not search; the compiler finds it by itself.
   CURL = { library = "curl" },
   CJSON = { header = "cjson/cJSON.h" },
   SECP256K1 = { header = "secp256k1_recovery.h" },
   -- hiredis (libhiredis-dev): the core's Redis replay store and rate limit.
   HIREDIS = { library = "hiredis" },
}
build = {
   type = "builtin",
   modules = {
      ["walletsign.core"] = {
         sources = {
            "lua/walletsign_core.c",
            "csrc/auth.c",
            "csrc/client.c",
            "csrc/codec.c",
            "csrc/error.c",
            "csrc/hash.c",
            "csrc/hmac.c",
            "csrc/json.c",
            "csrc/json_api.c",
            "csrc/jwt.c",
            "csrc/keccak.c",
            "csrc/key.c",
            "csrc/message.c",
            "csrc/message_verify.c",
            "csrc/options.c",
            "csrc/pool.c",
            "csrc/rate_limit.c",
            "csrc/redis.c",
            "csrc/replay.c",
            "csrc/replay_store.c",
            "csrc/rpc.c",
            "csrc/secp.c",
         },
         -- The core stays private to the module: only luaopen_walletsign_core
         -- is exported (the Lua module's export map, as Python's has one).
         defines = { "WSIG_EMBEDDED" },
         incdirs = { "csrc/include", "$(CJSON_INCDIR)", "$(OPENSSL_INCDIR)", "$(SECP256K1_INCDIR)" },
         libdirs = { "$(OPENSSL_LIBDIR)", "$(CURL_LIBDIR)", "$(CJSON_LIBDIR)", "$(SECP256K1_LIBDIR)", "$(HIREDIS_LIBDIR)" },
         libraries = { "ssl", "crypto", "curl", "cjson", "secp256k1", "hiredis", "pthread" },
      },
      ["walletsign"] = "lua/walletsign/init.lua",
      ["walletsign.nginx"] = "lua/walletsign/nginx.lua",
   },
}

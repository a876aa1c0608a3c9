--- walletsign: sign, send and verify wallet-API requests.
--
-- The Lua facade over the C module `walletsign.core`. Everything that
-- touches a protocol lives in the C core; this file only names things.
--
--   local ws = require "walletsign"
--   local key = assert(ws.key.from_hex(os.getenv "MERCHANT_KEY_HEX"))
--   local auth = assert(ws.message_auth{key = key})
--   local headers = assert(auth:sign("POST", "/access/get_address", body))
--
-- Conventions
--  * Expected failures return `nil, err`; `err` is a table
--    {kind=, reason=, status=, code=, message=, data=, body=, curl_code=,
--    retry_after=} with a __tostring. `kind` is the core's status name
--    ("invalid", "key_error", "http_error", "rpc_error", "transport_error",
--    "timeout", ...); `reason` is set for kind "invalid" ("bad_signature",
--    "replay", "stale_timestamp", ...). Wrong argument types raise.
--  * Constructors that succeed with a warning (an RSA-2048 JWT key) return
--    the object and the warning text as a second value.
--  * 64-bit ids (message session, sequence) are decimal strings.
--  * JSON: an empty table encodes as {} (an object); a table whose keys are
--    exactly 1..n encodes as an array; ws.array(t) forces an array (so
--    ws.array() is []); ws.null is JSON null. Decoded arrays carry the
--    ws.array metatable, decoded nulls are ws.null.
local core = require "walletsign.core"

local ws = {
   version = core.version,
   null = core.null,

   key = {
      generate = core.key_generate,   -- ("P-256" | "RSA-4096" | "secp256k1")
      load = core.key_load,           -- (pem_or_der_or_path [, password])
      load_data = core.key_load_data, -- (pem_der_or_hex_bytes [, password])
      load_pem = core.key_load_pem,
      load_der = core.key_load_der,
      load_file = core.key_load_file,
      from_hex = core.key_from_hex,   -- secp256k1, 64 hex digits (0x optional)
   },

   jwt_auth = core.jwt_auth,         -- {key=, key_id=, ttl=10, signature_format="der"|"raw"}
   hmac_auth = core.hmac_auth,       -- {api_key=, secret=, encoding="base64"|"hex", separator="|"}
   message_auth = core.message_auth, -- {key=, encoding=, v_offset=, empty_body=, digest=, prefix=}

   verify_jwt = core.verify_jwt,             -- (token, key_or_pem [, {leeway=, now=, uri=, body=, max_ttl=}])
   hmac_verifier = core.hmac_verifier,       -- {secrets={api_key=secret}, window_ms=30000, replay_cache=false}
   message_verifier = core.message_verifier, -- {trusted={...}, window_ms=60000, cache_size=, replay_cache=, replay_store=}
   -- A replay store shared by processes and machines: redis://[[user]:password@]host[:port][/db].
   -- Blocking (hiredis): not for nginx request handlers (walletsign.nginx has its own).
   redis_replay_store = core.redis_replay_store, -- (url [, {prefix="walletsign:", timeout=0.5}])

   rpc_result = core.rpc_result,
   rpc_error = core.rpc_error,
   rpc_parse = core.rpc_parse,

   client = core.client,             -- {base_url=, auth=, rate_limit={10, 10}|false|limiter, ...}
   redis_rate_limit = core.redis_rate_limit, -- (url [, {rate=10, burst=10, prefix=, timeout=0.5}])

   -- For tests and tools; not part of the stable API.
   _json_encode = core.json_encode,
   _json_decode = core.json_decode,
   _keccak256_hex = core.keccak256_hex,
}

--- Mark a table as a JSON array (an empty one encodes as []).
function ws.array(t)
   return setmetatable(t or {}, core.array_mt)
end

--- True if v is an error table returned by walletsign.
function ws.is_error(v)
   return type(v) == "table" and getmetatable(v) == core.error_mt
end

--- assert() for walletsign results: returns all its arguments when v is
-- true, else raises tostring(err) (a string) at the caller's line. Error
-- tables stay tables for code that inspects them; this is for start-up code
-- that should stop with a readable message: nginx's init_by_lua* prints a
-- table error as "unknown error" (it does not call __tostring).
function ws.assert(v, err, ...)
   if v then return v, err, ... end
   if err == nil then err = "assertion failed!" end
   error(tostring(err), 2)
end

return ws

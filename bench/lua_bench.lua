-- walletsign's Lua module against luaossl and against its own C core called
-- straight from C (the "C floor"). Run by scripts/bench.sh (`make bench`)
-- under lua5.4 and under luajit, pinned to one core like the C benchmarks.
--
-- Method (the same as bench/c_sign.c and bench/python_bench.py): each
-- comparison calibrates an operation count per side (~BENCH_LUA_ROUND_MS of
-- work), then runs BENCH_LUA_ROUNDS rounds in which every side runs its count
-- once, A,B,C in even rounds and C,B,A in odd ones (A = walletsign from Lua,
-- B = luaossl, C = the C floor). Each round gives one ratio per pair; the
-- median of the round ratios is reported, min..max in brackets.
--
--  * Time is this process's CPU time (os.clock; the process has one thread),
--    so time spent descheduled by other tenants is charged to no one.
--  * The C floor is `c_sign --floor OP N` (bench/c_sign.c): the same walletsign
--    call made from C after a warm-up of N/4, one process per round (its
--    set-up untimed), thread CPU time, printed as ns/op.
--  * The peers do what a Lua program does without walletsign: HMAC with
--    luaossl's openssl.hmac and base64 written in Lua; the ES256 JWT with the
--    same claims built in Lua, SHA-256 with openssl.digest and the P-256 DER
--    signature from openssl.pkey's pkey:sign(digest). Both are checked before
--    timing: the same HMAC headers at a fixed timestamp, and walletsign's
--    verify_jwt accepts the luaossl token with the same claims as its own.
--
-- Environment: WALLETSIGN_C_SIGN (build/bench/c_sign), BENCH_LUA_ROUNDS (21),
-- BENCH_LUA_ROUND_MS (10), BENCH_KEYS (tests/vectors/keys). LUA_PATH and
-- LUA_CPATH must reach the built module (scripts/bench.sh sets them).
-- Plain Lua 5.1 syntax: the same file runs under LuaJIT and Lua 5.4.

local ws = require "walletsign"
local hmac = require "openssl.hmac"
local digest = require "openssl.digest"
local pkey = require "openssl.pkey"
local rand = require "openssl.rand"
local openssl = require "openssl"
local have_socket, socket = pcall(require, "socket")

local byte, char, sub, format, floor = string.byte, string.char, string.sub, string.format, math.floor
local concat, clock = table.concat, os.clock

local ROUNDS = tonumber(os.getenv "BENCH_LUA_ROUNDS" or "21")
local ROUND_S = tonumber(os.getenv "BENCH_LUA_ROUND_MS" or "10") / 1e3
local C_SIGN = os.getenv "WALLETSIGN_C_SIGN" or "build/bench/c_sign"
local KEYS = os.getenv "BENCH_KEYS" or "tests/vectors/keys"

-- The fixtures of bench/c_sign.c.
local BODY = '{"name":"list_client_accounts","payload":{}}'
local PATH = "/query"
local KEY_ID = "bench-key-id-0123456789"
local API_KEY = "bench-api-key"
local SECRET = "bench-secret-of-32-bytes-length!"
local FIXED_MS = 1730998051892

local INTERP = jit and "luajit" or "lua" .. _VERSION:match "%d+%.%d+":gsub("%.", "")
local INTERP_VERSION = jit and jit.version or _VERSION

local function die(msg)
   io.stderr:write("lua_bench: ", msg, "\n")
   os.exit(2)
end

local function read_file(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read "*a"
   f:close()
   return s
end

---------------------------------------------------------------------------
-- base64 in Lua (12 bits per table lookup), hex with gsub over a table

local function b64_tables(alphabet)
   local t = {}
   for i = 0, 4095 do
      local hi, lo = floor(i / 64), i % 64
      t[i] = sub(alphabet, hi + 1, hi + 1) .. sub(alphabet, lo + 1, lo + 1)
   end
   return t
end
local STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local STD12, URL12 = b64_tables(STD), b64_tables(URLSAFE)

local function b64_with(t12, alphabet, pad)
   return function(s)
      local out, n, len = {}, 0, #s
      local full = len - len % 3
      for i = 1, full, 3 do
         local a, b, c = byte(s, i, i + 2)
         local v = a * 65536 + b * 256 + c
         out[n + 1] = t12[floor(v / 4096)]
         out[n + 2] = t12[v % 4096]
         n = n + 2
      end
      local rem = len - full
      if rem == 1 then
         local v = byte(s, len) * 16
         out[n + 1] = t12[v] .. (pad and "==" or "")
      elseif rem == 2 then
         local a, b = byte(s, len - 1, len)
         local v = a * 1024 + b * 4  -- 18 bits: three characters
         out[n + 1] = t12[floor(v / 64)] .. sub(alphabet, v % 64 + 1, v % 64 + 1) .. (pad and "=" or "")
      end
      return concat(out)
   end
end
local b64 = b64_with(STD12, STD, true)
local b64url = b64_with(URL12, URLSAFE, false)

local HEX = {}
for i = 0, 255 do HEX[char(i)] = format("%02x", i) end
local function tohex(s) return (s:gsub(".", HEX)) end

local now_ms
if have_socket then
   local gettime = socket.gettime
   now_ms = function() return floor(gettime() * 1000) end
else
   now_ms = function() return os.time() * 1000 end
end

---------------------------------------------------------------------------
-- The peers

-- HMAC-SHA256 with luaossl over TIMESTAMP|METHOD|PATH|BODY, base64 in Lua.
local function luaossl_hmac_sign(method, path, body, ts)
   ts = format("%d", ts or now_ms())
   local mac = hmac.new(SECRET, "sha256"):final(ts .. "|" .. method:upper() .. "|" .. path .. "|" .. (body or ""))
   return {["x-api-key"] = API_KEY, ["x-timestamp"] = ts, ["x-signature"] = b64(mac)}
end

-- ES256 JWT: walletsign's claims, SHA-256 and the DER signature from luaossl.
local function make_luaossl_jwt(pk)
   local header = b64url '{"alg":"ES256","typ":"JWT"}'  -- constant: made once
   return function(method, path, body, now, nonce)
      now = now or os.time()
      nonce = nonce or tohex(rand.bytes(20))
      local payload = format('{"kid":"%s","sub":"wallet","iat":%d,"exp":%d,"nonce":"%s",' ..
                             '"bodyHash":"%s","uri":"%s"}', KEY_ID, now, now + 10, nonce,
                             tohex(digest.new("sha256"):final(body or "")), path)
      local input = header .. "." .. b64url(payload)
      local sig = pk:sign(digest.new("sha256"):update(input))
      return {Authorization = "Bearer " .. input .. "." .. b64url(sig)}
   end
end

---------------------------------------------------------------------------
-- Timing

local function method_loop(obj, fn)  -- obj:fn("POST", PATH, BODY)
   return function(n)
      local t0 = clock()
      for _ = 1, n do fn(obj, "POST", PATH, BODY) end
      return (clock() - t0) / n * 1e9
   end
end

local function func_loop(fn)  -- fn("POST", PATH, BODY)
   return function(n)
      local t0 = clock()
      for _ = 1, n do fn("POST", PATH, BODY) end
      return (clock() - t0) / n * 1e9
   end
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function floor_timer(op)
   local cmd = shell_quote(C_SIGN) .. " --keys " .. shell_quote(KEYS) .. " --floor " .. op .. " "
   return function(n)
      local p = assert(io.popen(cmd .. n, "r"))
      local out = p:read "*a"
      p:close()
      local ns = tonumber(out:match '"ns_per_op":([%d%.]+)')
      if not ns then die("c_sign --floor " .. op .. " failed: " .. out) end
      return ns
   end
end

-- Operations that take about target_s (fastest of three estimates).
local function calibrate(timed, target_s)
   local best
   for _ = 1, 3 do
      local n, per = 1, nil
      while true do
         per = timed(n)
         if per * n >= target_s * 1e9 / 8 then break end
         n = n * 2
      end
      best = best and math.min(best, per) or per
   end
   return math.max(1, floor(target_s * 1e9 / best))
end

local function side(name, timed, is_floor)
   return {name = name, timed = timed, is_floor = is_floor, n = 0, per_op = {}}
end

local function run_rounds(sides, target_s)
   for _, s in ipairs(sides) do
      if not s.is_floor then s.n = calibrate(s.timed, target_s) end
   end
   for _, s in ipairs(sides) do  -- the floor runs as many operations as walletsign
      if s.is_floor then s.n = sides[1].n end
   end
   for r = 0, ROUNDS - 1 do
      local first, last, step = 1, #sides, 1
      if r % 2 == 1 then first, last, step = #sides, 1, -1 end
      for i = first, last, step do
         local s = sides[i]
         s.per_op[#s.per_op + 1] = s.timed(s.n)
      end
   end
end

local function median(v)
   local s = {}
   for i = 1, #v do s[i] = v[i] end
   table.sort(s)
   local n = #s
   if n % 2 == 1 then return s[(n + 1) / 2] end
   return (s[n / 2] + s[n / 2 + 1]) / 2
end

local misses = 0

-- kind "ratio": walletsign / other per round (lower is better);
-- "speedup": other / walletsign (higher is better).
local function report(label, a, b, kind, target)
   local vals, lo, hi = {}, math.huge, -math.huge
   for i = 1, #a.per_op do
      local v = kind == "ratio" and a.per_op[i] / b.per_op[i] or b.per_op[i] / a.per_op[i]
      vals[i] = v
      lo, hi = math.min(lo, v), math.max(hi, v)
   end
   local m = median(vals)
   local line = format("%-30s walletsign %9.2f us  %-14s %9.2f us  %s %6.3f  [%.3f..%.3f]  %d x %d/%d ops  ",
                       label, median(a.per_op) / 1e3, b.name, median(b.per_op) / 1e3, kind, m, lo, hi,
                       #vals, a.n, b.n)
   if target then
      local ok = m <= target
      if not ok then misses = misses + 1 end
      line = line .. format("target <= %.2f  %s", target, ok and "PASS" or "MISS")
   else
      line = line .. "(informational)"
   end
   print(line)
   io.stdout:flush()
end

---------------------------------------------------------------------------

local pem = read_file(KEYS .. "/p256_pkcs8.pem")
local key = assert(ws.key.load(pem))
local jwt_auth = assert(ws.jwt_auth{key = key, key_id = KEY_ID})
local hmac_auth = assert(ws.hmac_auth{api_key = API_KEY, secret = SECRET})
local luaossl_jwt_sign = make_luaossl_jwt(pkey.new(pem))

print(format("# lua_bench %s: %s, walletsign %s, luaossl over %s, base64 in Lua%s",
             INTERP, INTERP_VERSION, ws.version, openssl.version(openssl.SSLEAY_VERSION or 0),
             have_socket and ", ms clock from socket.gettime" or ""))
print(format("# lua_bench %s: median of %d interleaved rounds (A,B,C / C,B,A) of ~%.0f ms per side, " ..
             "process CPU time; speedup = luaossl / walletsign, ratio = walletsign / C floor (c_sign --floor)",
             INTERP, ROUNDS, ROUND_S * 1e3))
io.stdout:flush()

-- Fixtures: the same HMAC headers at a fixed timestamp ...
do
   local w = assert(hmac_auth:sign("POST", PATH, BODY, {timestamp = FIXED_MS}))
   local l = luaossl_hmac_sign("POST", PATH, BODY, FIXED_MS)
   for _, k in ipairs {"x-api-key", "x-timestamp", "x-signature"} do
      if w[k] ~= l[k] then die("HMAC header " .. k .. " differs: " .. tostring(w[k]) .. " vs " .. tostring(l[k])) end
   end
end
-- ... and walletsign verifies both tokens to the same claims.
do
   local function claims(h)
      local tok = h.Authorization:match "^Bearer (.+)$"
      return assert(ws.verify_jwt(tok, key, {uri = PATH, body = BODY}))
   end
   local w = claims(assert(jwt_auth:sign("POST", PATH, BODY)))
   local l = claims(luaossl_jwt_sign("POST", PATH, BODY))
   for _, k in ipairs {"kid", "sub", "bodyHash", "uri"} do
      if w[k] ~= l[k] then die("claim " .. k .. " differs: " .. tostring(w[k]) .. " vs " .. tostring(l[k])) end
   end
   if w.exp - w.iat ~= l.exp - l.iat then die "token lifetimes differ" end
end

local p = INTERP .. "_"

do -- HMAC headers
   local a = side("walletsign", method_loop(hmac_auth, hmac_auth.sign))
   local b = side("luaossl+b64", func_loop(luaossl_hmac_sign))
   local c = side("C floor", floor_timer "hmac", true)
   run_rounds({a, b, c}, ROUND_S)
   report(p .. "hmac_vs_luaossl", a, b, "speedup")
   report(p .. "hmac_vs_c_floor", a, c, "ratio", 1.2)
end

do -- ES256 JWT
   local a = side("walletsign", method_loop(jwt_auth, jwt_auth.sign))
   local b = side("luaossl", func_loop(luaossl_jwt_sign))
   local c = side("C floor", floor_timer "es256", true)
   run_rounds({a, b, c}, ROUND_S)
   report(p .. "jwt_es256_vs_luaossl", a, b, "speedup")
   report(p .. "jwt_es256_vs_c_floor", a, c, "ratio", 1.2)
end

print(format("# lua_bench %s: %d target(s) missed", INTERP, misses))

-- What the nginx test drivers (tests/nginx/cases.lua, client_cases.lua and
-- replay_cases.lua) share: files, the shell, TAP-like reporting and HTTP
-- through curl. Found through LUA_PATH, which run.sh, client.sh and
-- replay.sh point at tests/nginx. One driver runs per luajit process, so
-- the counters here are that driver's.
local H = {}

---------------------------------------------------------------- files and the shell

-- The whole file, or nil if it cannot be opened.
function H.read(path)
   local f = io.open(path, "rb")
   if not f then return nil end
   local s = f:read("*a")
   f:close()
   return s
end

function H.write(path, data)
   local f = assert(io.open(path, "wb"))
   f:write(data)
   f:close()
end

-- s as one single-quoted shell word.
function H.shq(s)
   return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The output (stdout and stderr) of a shell command.
function H.sh(cmd)
   local p = assert(io.popen(cmd .. " 2>&1"))
   local out = p:read("*a")
   p:close()
   return out
end

function H.sleep(s) os.execute("sleep " .. s) end

---------------------------------------------------------------- reporting

local passed, failed, n = 0, 0, 0

-- Runs fn as case number n: "ok n - name", or "not ok n - name" and the error.
function H.check(name, fn)
   n = n + 1
   local ok, err = pcall(fn)
   if ok then
      passed = passed + 1
      print("ok " .. n .. " - " .. name)
   else
      failed = failed + 1
      print("not ok " .. n .. " - " .. name)
      print("# " .. tostring(err):gsub("\n", "\n# "))
   end
end

function H.eq(want, got, what)
   if want ~= got then
      error(string.format("%s: expected %s, got %s", what or "value", tostring(want), tostring(got)), 2)
   end
end

-- How many cases failed so far.
function H.failed() return failed end

-- Prints "N passed, M failed" (M counting extra_failed more) and exits: 0
-- when nothing failed and something passed.
function H.finish(extra_failed)
   local bad = failed + (extra_failed or 0)
   print(passed .. " passed, " .. bad .. " failed")
   os.exit(bad == 0 and passed > 0 and 0 or 1)
end

---------------------------------------------------------------- nginx and the mock

-- What run.sh and client.sh export: {dir = the nginx prefix, port = nginx's,
-- base = its URL, work = DIR/work (the test's files), mock = the info
-- tests/mock_server printed (url, port, keys)}.
function H.nginx_env()
   local ws = require "walletsign"
   local dir = assert(os.getenv("WS_NGINX_DIR"))
   local port = assert(os.getenv("WS_NGINX_PORT"))
   return {dir = dir, port = port, base = "http://127.0.0.1:" .. port, work = dir .. "/work",
           mock = assert(ws._json_decode(assert(H.read(os.getenv("WS_MOCK_INFO")))))}
end

-- The JSON document text holds, or an error quoting its start.
function H.json(text)
   return assert(require("walletsign")._json_decode(text), "not JSON: " .. tostring(text):sub(1, 300))
end

-- mock_poster(http, url) -> mock_post(path, doc): the JSON answer of the
-- mock at url to doc (or {}) POSTed to path, checked to be a 200. http is
-- the driver's (method, url, opts) -> status, body.
function H.mock_poster(http, url)
   return function(path, doc)
      local status, body = http("POST", url .. path, {body = require("walletsign")._json_encode(doc or {})})
      H.eq(200, status, "mock " .. path .. " " .. body)
      return H.json(body)
   end
end

-- A new P-256 Halogen key, saved to dir/halogen.pem and registered with the
-- mock at url from its CSR as key_id (the CSR sent with headers, if given):
-- the key, its path and the mock's registration ({key_id = ...}).
function H.register_halogen(http, url, dir, key_id, headers)
   local ws = require "walletsign"
   local key = assert(ws.key.generate("P-256"))
   local path = dir .. "/halogen.pem"
   assert(key:save(path))
   local status, body = http("POST", url .. "/_mock/halogen/register?key_id=" .. key_id,
                             {body = assert(key:csr("/O=walletsign tests/CN=" .. key_id)), headers = headers})
   H.eq(200, status, "CSR registration: " .. body)
   return key, path, H.json(body)
end

---------------------------------------------------------------- HTTP via curl

local seq = 0

-- A curl client keeping its files in cfg.work: cfg.max_time (seconds),
-- cfg.cacert (a CA file for https, or nil). Requests take opts {headers =
-- {name = value}, header_list = {{name, value}, ...} (sent in this order),
-- body = string (sent as application/json unless headers name a
-- Content-Type)}.
function H.http_client(cfg)
   local shq = H.shq
   local c = {}

   -- The curl command line for a request, its body file and its header file.
   function c.command(method, url, opts)
      opts = opts or {}
      seq = seq + 1
      local out, hdr = cfg.work .. "/out." .. seq, cfg.work .. "/hdr." .. seq
      local cmd = {"curl -sS --max-time " .. cfg.max_time}
      if cfg.cacert then cmd[#cmd + 1] = "--cacert " .. shq(cfg.cacert) end
      cmd[#cmd + 1] = "-o " .. shq(out) .. " -D " .. shq(hdr) ..
                      " -w '%{http_code} %{time_total}' -X " .. shq(method)
      for name, value in pairs(opts.headers or {}) do
         cmd[#cmd + 1] = "-H " .. shq(name .. ": " .. value)
      end
      for _, pair in ipairs(opts.header_list or {}) do
         cmd[#cmd + 1] = "-H " .. shq(pair[1] .. ": " .. pair[2])
      end
      if opts.body then
         local bodyfile = cfg.work .. "/body." .. seq
         H.write(bodyfile, opts.body)
         cmd[#cmd + 1] = "--data-binary @" .. shq(bodyfile)
         local typed = false
         for name in pairs(opts.headers or {}) do typed = typed or name:lower() == "content-type" end
         if not typed then cmd[#cmd + 1] = "-H 'Content-Type: application/json'" end
      end
      cmd[#cmd + 1] = shq(url)
      return table.concat(cmd, " "), out, hdr
   end

   -- status (0 when curl got none), body, seconds taken, headers (lower-case
   -- names) of a request whose curl wrote its -w line into written.
   local function result(written, out, hdr)
      local code, took = written:match("(%d%d%d) ([%d.]+)$")
      local headers = {}
      for line in (H.read(hdr) or ""):gmatch("[^\r\n]+") do
         local k, v = line:match("^([^:]+):%s*(.*)$")
         if k then headers[k:lower()] = v end
      end
      return tonumber(code) or 0, H.read(out) or "", tonumber(took), headers
   end

   -- request(method, url, opts) -> status, body, seconds, headers
   function c.request(method, url, opts)
      local cmd, out, hdr = c.command(method, url, opts)
      return result(H.sh(cmd), out, hdr)
   end

   -- Several requests at once: {{method, url, opts}, ...} ->
   -- {{status, body, seconds, headers}, ...}
   function c.parallel(list)
      local script, files = {}, {}
      for i, req in ipairs(list) do
         local cmd, out, hdr = c.command(req[1], req[2], req[3])
         files[i] = {out, hdr}
         script[#script + 1] = "(" .. cmd .. " >" .. shq(out .. ".w") .. " 2>&1) &"
      end
      script[#script + 1] = "wait"
      os.execute(table.concat(script, "\n"))
      local results = {}
      for i, f in ipairs(files) do
         results[i] = {result(H.read(f[1] .. ".w") or "", f[1], f[2])}
      end
      return results
   end

   return c
end

return H

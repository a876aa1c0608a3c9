-- wrk script of bench/nginx_replay.sh: sends the pre-signed requests of
-- the file named by WS_REQUESTS (bench/nginx_replay_sign.lua) in order, one
-- thread, and prints "requests non2xx errors seconds" when done. Running out
-- of requests would resend old ones (replays, answered 401): the count of
-- non-2xx answers tells.
local requests, i = {}, 0

function init()
   local f = assert(io.open(os.getenv("WS_REQUESTS"), "rb"))
   local data = f:read("*a")
   f:close()
   local pos = 1
   while pos <= #data do
      local nl = data:find("\n", pos, true)
      local len = tonumber(data:sub(pos, nl - 1))
      requests[#requests + 1] = data:sub(nl + 1, nl + len)
      pos = nl + len + 1
   end
end

function request()
   i = i + 1
   if i > #requests then i = 1 end
   return requests[i]
end

function done(summary, latency, reqs)
   local e = summary.errors
   io.write(string.format("RESULT %d %d %d %.6f\n", summary.requests, e.status,
                          e.connect + e.read + e.write + e.timeout, summary.duration / 1e6))
end

-- wrk script of bench/nginx_sign.sh: POSTs one JSON body (a Halogen query)
-- on every request and prints "RESULT requests non2xx errors seconds".
wrk.method = "POST"
wrk.body = '{"name":"list_client_accounts","payload":{}}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, reqs)
   local e = summary.errors
   io.write(string.format("RESULT %d %d %d %.6f\n", summary.requests, e.status,
                          e.connect + e.read + e.write + e.timeout, summary.duration / 1e6))
end

-- wrk script for bench/forms: every request POSTs a distinct, valid contact
-- form (urlencoded, with the site's Origin; FORM_PATH=/register for sign-ups,
-- /login for sign-ins with LOGIN_BODY) and done() prints how many
-- answers were accepted (2xx/3xx) and refused, and the latency percentiles.
--   wrk -t2 -c64 -d30s -s bench/forms.lua URL/contact   (ORIGIN in the env)
local threads = {}
local counter = 1

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   n = 0
   accepted = 0
   refused = 0
   local origin = os.getenv("ORIGIN") or "http://127.0.0.1:8080"
   path = os.getenv("FORM_PATH") or "/contact"
   headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Origin"] = origin,
   }
end

function request()
   n = n + 1
   local body
   if path == "/login" then
      -- bench/admin: the owner signing in, again and again (LOGIN_BODY)
      body = os.getenv("LOGIN_BODY")
   elseif path == "/register" then
      -- RUN keeps addresses distinct across runs on one store.
      body = "email=member" .. (os.getenv("RUN") or "0") .. "-" .. tid .. "-" .. n ..
         "%40example.org&display_name=Bench+Member+" .. tid .. "-" .. n ..
         "&password=bench-password-" .. n
   else
      body = "name=Bench+Visitor+" .. tid .. "&email=bench" .. tid .. "-" .. n ..
         "%40example.org&subject=Benchmark&message=Hello%2C+this+is+benchmark+message+" ..
         tid .. "-" .. n .. "+about+your+work."
   end
   return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
   if status >= 200 and status < 400 then
      accepted = accepted + 1
   else
      refused = refused + 1
   end
end

function done(summary, latency, requests)
   local a, r = 0, 0
   for _, t in ipairs(threads) do
      a = a + t:get("accepted")
      r = r + t:get("refused")
   end
   io.write(string.format("lua: accepted %d refused %d\n", a, r))
   io.write(string.format("lua: p50 %.2f ms p90 %.2f ms p99 %.2f ms max %.2f ms\n",
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000))
end

-- wrk script: the same checkout bodies against the bench's bare Kestrel endpoint (parses the body with the
-- server's JSON rules, answers a small JSON object; no engine, no journal): the ceiling HTTP itself sets.
--   wrk -t1 -c64 -d10s -s bench/wrk/bare.lua http://127.0.0.1:PORT -- <skus>
local counter = 0
local skus
other = 0 -- a global: wrk reads it from each thread in done()
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  skus = tonumber(args[1] or "10000")
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  counter = counter + 1
  local n = math.random(1, 5)
  local lines = {}
  for i = 1, n do lines[i] = string.format('{"sku":%d,"qty":1}', math.random(1, skus)) end
  local body = string.format('{"customerId":"c%d","lines":[%s]}', counter % 1000, table.concat(lines, ","))
  return wrk.format("POST", "/bare/checkout", {
    ["Authorization"] = "Bearer bare",
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bare-" .. counter,
  }, body)
end

function response(status, headers, body)
  if status ~= 201 then other = other + 1 end
end

function done(summary, latency, requests)
  local o = 0
  for _, t in ipairs(threads) do o = o + t:get("other") end
  io.write(string.format("STATUS other=%d\n", o))
  io.write(string.format("LATENCY p50_us=%d p99_us=%d p999_us=%d\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end

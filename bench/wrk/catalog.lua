-- wrk script: catalog reads (GET /v1/catalog/items/{sku}) against the reservation server.
--   wrk -t1 -c64 -d10s -s bench/wrk/catalog.lua http://127.0.0.1:8080 -- <storefront-key> <skus>
local key
local skus
other = 0 -- a global: wrk reads it from each thread in done()
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  key = args[1] or error("usage: -- <storefront-key> [skus]")
  skus = tonumber(args[2] or "10000")
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  return wrk.format("GET", "/v1/catalog/items/" .. math.random(1, skus), { ["Authorization"] = "Bearer " .. key })
end

function response(status, headers, body)
  if status ~= 200 then other = other + 1 end
end

function done(summary, latency, requests)
  local o = 0
  for _, t in ipairs(threads) do o = o + t:get("other") end
  io.write(string.format("STATUS other=%d\n", o))
  io.write(string.format("LATENCY p50_us=%d p99_us=%d p999_us=%d\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end

-- wrk script: durable checkouts against the reservation server.
--   wrk -t1 -c64 -d10s -s bench/wrk/checkout.lua http://127.0.0.1:8080 -- <storefront-key> <skus>
-- Carts of 1 to 5 lines over SKUs 1..<skus> (uniform), quantity 1, a fresh Idempotency-Key per request
-- (a per-thread random prefix and a counter), so every request is a new order. Counts statuses: 201 created,
-- 409 out of stock; anything else is reported as an error at the end.
local counter = 0
local prefix
local key
local skus
created, refused, other = 0, 0, 0 -- globals: wrk reads them from each thread in done()
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  key = args[1] or error("usage: -- <storefront-key> [skus]")
  skus = tonumber(args[2] or "10000")
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = string.format("wrk%08x", math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local n = math.random(1, 5)
  local lines = {}
  local seen = {}
  for i = 1, n do
    local sku = math.random(1, skus)
    while seen[sku] do sku = math.random(1, skus) end
    seen[sku] = true
    lines[i] = string.format('{"sku":%d,"qty":1}', sku)
  end
  local body = string.format('{"customerId":"c%d","lines":[%s]}', counter % 1000, table.concat(lines, ","))
  return wrk.format("POST", "/v1/checkout", {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. "-" .. counter,
  }, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1
  elseif status == 409 then refused = refused + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local c, r, o = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); r = r + t:get("refused"); o = o + t:get("other")
  end
  io.write(string.format("STATUS created=%d refused=%d other=%d\n", c, r, o))
  io.write(string.format("LATENCY p50_us=%d p99_us=%d p999_us=%d\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end

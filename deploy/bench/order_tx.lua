-- The ceiling of POST /orders: one order-shaped transaction, as the order service writes it
-- (an order, its item, its first history row and its outbox message, then COMMIT), run by
-- sysbench against a database migrated by `order-service migrate` (the same tables, indexes
-- and foreign keys). Used by `make bench`:
--
--   sysbench deploy/bench/order_tx.lua --db-driver=mysql --mysql-db=DB --threads=32 --time=15 run
--
-- Ids are 16 random-tailed bytes that grow with time (seconds, then thread, then a per-thread
-- counter), like UUIDv7: inserts land near the right edge of each primary-key B-tree.

local con
local counter = 0
local started = os.time()
local product = "X'0190aabbccdd7000800000000000beef'"
local payload = string.rep("x", 280)

function thread_init()
  con = sysbench.sql.driver():connect()
end

function thread_done()
  con:disconnect()
end

local function next_id()
  counter = counter + 1
  return string.format("X'%08x%04x%04x%016x'", started, 0x7000 + sysbench.tid % 0x1000,
    0x8000 + math.random(0, 0x3fff), counter)
end

function event()
  local order = next_id()
  local message = next_id()
  con:query("BEGIN")
  con:query("INSERT INTO orders (id, status, currency, total_minor, version, created_at, updated_at) " ..
    "VALUES (" .. order .. ", 'pending', 'USD', 999, 1, NOW(6), NOW(6))")
  con:query("INSERT INTO order_items (order_id, product_id, position, product_name, " ..
    "unit_price_minor, quantity, line_total_minor) VALUES (" .. order .. ", " .. product ..
    ", 0, 'Bench product', 999, 1, 999)")
  con:query("INSERT INTO order_status_history (order_id, seq, from_status, to_status, reason, cause, at) " ..
    "VALUES (" .. order .. ", 1, NULL, 'pending', NULL, 'bench', NOW(6))")
  con:query("INSERT INTO outbox (id, routing_key, payload, occurred_at, published_at) VALUES (" ..
    message .. ", 'order.created', '{\"data\":\"" .. payload .. "\"}', NOW(6), NULL)")
  con:query("COMMIT")
end

#!/usr/bin/env bash
# The order flow end to end, against running services, with nothing but curl:
#
#   1. without a token, placing an order is refused (401); a customer may not create products (403);
#   2. an admin creates a product with 3 units in stock;
#   3. a customer orders 2 units: the inventory has them, the order becomes `confirmed`;
#   4. another customer asks for that order: 404, as if it did not exist;
#   5. once that order is settled, the customer orders 2 more units: only 1 is left, the order
#      becomes `rejected` with the reason `insufficient_stock`;
#   6. the admin ships and delivers the first order, and its customer sees it `delivered`;
#   7. the product has 1 unit left.
#
# Orders are placed `pending` and settled asynchronously (over the event bus), so each one is polled
# with GET /orders/{id} until it leaves `pending` (at most POLL_TIMEOUT_SECS).
#
# Tokens: made with the standalone binary's `token` command, signed with the key in <repo>/data
# (where `make run` keeps it and `make run-services` points the services; STANDALONE_DATA_DIR
# names another, STANDALONE_BIN the binary: see tokens.sh). For services that trust another
# issuer, set SHOP_ADMIN_TOKEN, SHOP_CUSTOMER_TOKEN and SHOP_OTHER_CUSTOMER_TOKEN (two customers).
#
# Usage: deploy/examples/flow.sh [ORDER_URL] [PRODUCT_URL]
#        (defaults: http://127.0.0.1:8080 and http://127.0.0.1:3000, as started by `make run`)
# Exits 0 when every check holds, non-zero with a message on the first one that does not.
set -euo pipefail
# shellcheck source=deploy/examples/tokens.sh
. "$(dirname "${BASH_SOURCE[0]}")/tokens.sh"

ORDER_URL="${1:-http://127.0.0.1:8080}"
PRODUCT_URL="${2:-http://127.0.0.1:3000}"
ORDER_URL="${ORDER_URL%/}"
PRODUCT_URL="${PRODUCT_URL%/}"

# How long an order may stay `pending` before the flow gives up.
POLL_TIMEOUT_SECS=30

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf '\nflow: error: %s\n' "$*" >&2
  exit 1
}

command -v curl >/dev/null 2>&1 ||
  die "curl is required but not installed (Debian/Ubuntu: apt-get install curl)"

# http TOKEN METHOD URL [JSON_BODY]
# Sends one request, with `Authorization: Bearer TOKEN` unless TOKEN is empty, and sets
# HTTP_STATUS (e.g. 201), HTTP_BODY (the response body) and HTTP_HEADERS.
http() {
  local token="$1" method="$2" url="$3" body="${4:-}" response
  local args=(--silent --show-error --connect-timeout 5 --max-time 15
    --request "$method" --header 'accept: application/json'
    --dump-header "$headers_file" --write-out '\n%{http_code}')
  if [[ -n "$token" ]]; then
    # From a file, so that the token is not on the command line for `ps` to show.
    printf 'Authorization: Bearer %s\n' "$token" >"$auth_file"
    args+=(--header "@$auth_file")
  fi
  if [[ -n "$body" ]]; then
    args+=(--header 'content-type: application/json' --data "$body")
  fi
  if ! response="$(curl "${args[@]}" "$url")"; then
    die "$method $url failed: is the service running?"
  fi
  # The status code is the last line (added by --write-out), the body is everything before it.
  HTTP_STATUS="${response##*$'\n'}"
  HTTP_BODY="${response%$'\n'*}"
  HTTP_HEADERS="$(cat "$headers_file")"
}

# expect_status CODE WHAT: dies unless the last response had status CODE.
expect_status() {
  [[ "$HTTP_STATUS" == "$1" ]] ||
    die "$2: expected HTTP $1, got $HTTP_STATUS: $HTTP_BODY"
}

# json_field KEY JSON
# Prints the value of the first "KEY": ... in JSON, without quotes for a string: enough for the
# flat fields read here (ids, statuses, numbers), which never contain quotes. Prints nothing when
# the key is absent or null.
json_field() {
  printf '%s' "$2" |
    grep -o "\"$1\"[[:space:]]*:[[:space:]]*\(\"[^\"]*\"\|-\{0,1\}[0-9][0-9.]*\)" |
    sed -n '1{s/^[^:]*:[[:space:]]*//; s/^"//; s/"$//; p;}' || true
}

# wait_for_order ORDER_ID
# Polls GET /orders/{id} as the customer until the order leaves `pending`; sets ORDER_BODY and
# ORDER_STATUS.
wait_for_order() {
  local id="$1" deadline=$((SECONDS + POLL_TIMEOUT_SECS))
  while :; do
    http "$customer" GET "$ORDER_URL/orders/$id"
    expect_status 200 "GET /orders/$id"
    ORDER_BODY="$HTTP_BODY"
    ORDER_STATUS="$(json_field status "$ORDER_BODY")"
    [[ "$ORDER_STATUS" != pending ]] && break
    ((SECONDS < deadline)) ||
      die "order $id is still pending after ${POLL_TIMEOUT_SECS}s: is the inventory consumer of the product service running?"
    sleep 0.2
  done
  local reason
  reason="$(json_field rejection_reason "$ORDER_BODY")"
  info "order $id is $ORDER_STATUS${reason:+ ($reason)}"
}

# place_order PRODUCT_ID QUANTITY: POST /orders as the customer; sets ORDER_ID.
place_order() {
  http "$customer" POST "$ORDER_URL/orders" \
    "{\"items\": [{\"product_id\": \"$1\", \"quantity\": $2}]}"
  expect_status 201 "POST /orders"
  ORDER_ID="$(json_field id "$HTTP_BODY")"
  [[ -n "$ORDER_ID" ]] || die "POST /orders: no id in the answer: $HTTP_BODY"
  info "order $ORDER_ID placed: $2 units, status $(json_field status "$HTTP_BODY"), total $(json_field total "$HTTP_BODY")"
}

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
headers_file="$scratch/headers" auth_file="$scratch/auth"

printf 'order service:   %s\nproduct service: %s\n' "$ORDER_URL" "$PRODUCT_URL"

step "the services answer"
for url in "$PRODUCT_URL" "$ORDER_URL"; do
  http "" GET "$url/health"
  expect_status 200 "GET $url/health"
  info "$url/health: $(json_field status "$HTTP_BODY")"
done

step "tokens: an admin and two customers"
run_id="$(date +%s)-$$-$RANDOM"
if [[ -n "${SHOP_ADMIN_TOKEN:-}${SHOP_CUSTOMER_TOKEN:-}${SHOP_OTHER_CUSTOMER_TOKEN:-}" ]]; then
  [[ -n "${SHOP_ADMIN_TOKEN:-}" && -n "${SHOP_CUSTOMER_TOKEN:-}" && -n "${SHOP_OTHER_CUSTOMER_TOKEN:-}" ]] ||
    die "set all of SHOP_ADMIN_TOKEN, SHOP_CUSTOMER_TOKEN and SHOP_OTHER_CUSTOMER_TOKEN, or none"
  admin="$SHOP_ADMIN_TOKEN" customer="$SHOP_CUSTOMER_TOKEN" other="$SHOP_OTHER_CUSTOMER_TOKEN"
  info "from SHOP_ADMIN_TOKEN, SHOP_CUSTOMER_TOKEN and SHOP_OTHER_CUSTOMER_TOKEN"
else
  admin="$(mint_token flow-admin admin)" || die "could not make an admin token"
  customer="$(mint_token "flow-customer-$run_id" customer)" || die "could not make a customer token"
  other="$(mint_token "flow-other-$run_id" customer)" || die "could not make a customer token"
  info "admin flow-admin, customers flow-customer-$run_id and flow-other-$run_id (standalone token)"
fi
http "$admin" GET "$ORDER_URL/orders?limit=1"
[[ "$HTTP_STATUS" != 401 ]] ||
  die "the order service does not accept the admin token ($HTTP_BODY): it trusts another key. \
A system started with --in-memory or another data directory: set STANDALONE_DATA_DIR to its \
data directory, or pass tokens it accepts in SHOP_ADMIN_TOKEN, SHOP_CUSTOMER_TOKEN and \
SHOP_OTHER_CUSTOMER_TOKEN"
expect_status 200 "GET /orders as the admin"

step "without a token, no order; a customer creates no product"
http "" POST "$ORDER_URL/orders" '{"items": []}'
expect_status 401 "POST /orders without a token"
grep -qi '^www-authenticate: *Bearer' <<<"$HTTP_HEADERS" ||
  die "POST /orders without a token: no WWW-Authenticate: Bearer challenge: $HTTP_HEADERS"
info "POST /orders without a token: 401, $(grep -i '^www-authenticate' <<<"$HTTP_HEADERS" | tr -d '\r')"
http "$customer" POST "$PRODUCT_URL/products" '{"name": "not mine to sell", "price": "1.00", "stock": 1}'
expect_status 403 "POST /products as a customer"
info "POST /products as a customer: 403"

step "the admin creates a product with 3 units in stock"
product_name="flow-example-$run_id"
http "$admin" POST "$PRODUCT_URL/products" \
  "{\"name\": \"$product_name\", \"price\": \"699.99\", \"stock\": 3}"
expect_status 201 "POST /products"
product_id="$(json_field id "$HTTP_BODY")"
[[ -n "$product_id" ]] || die "POST /products: no id in the answer: $HTTP_BODY"
info "product $product_id ($product_name), stock $(json_field stock "$HTTP_BODY")"

# The second order is placed only once the first one is settled, so that the inventory
# sees them in this order whatever the timing.
step "order 2 units: the stock covers them"
place_order "$product_id" 2
first_order="$ORDER_ID"
wait_for_order "$first_order"
first_status="$ORDER_STATUS"
[[ "$first_status" == confirmed ]] ||
  die "order $first_order: expected confirmed, got $first_status: $ORDER_BODY"

step "another customer asks for that order"
http "$other" GET "$ORDER_URL/orders/$first_order"
expect_status 404 "GET /orders/$first_order as another customer"
info "GET /orders/$first_order as another customer: 404 (no sign that it exists)"

step "order 2 more units: only 1 is left"
place_order "$product_id" 2
second_order="$ORDER_ID"
wait_for_order "$second_order"
second_status="$ORDER_STATUS"
second_reason="$(json_field rejection_reason "$ORDER_BODY")"
[[ "$second_status" == rejected ]] ||
  die "order $second_order: expected rejected, got $second_status: $ORDER_BODY"
[[ "$second_reason" == insufficient_stock ]] ||
  die "order $second_order: expected rejection_reason insufficient_stock, got '${second_reason}': $ORDER_BODY"

step "the admin ships and delivers the first order"
http "$admin" POST "$ORDER_URL/orders/$first_order/ship" \
  '{"carrier": "DHL", "tracking_number": "JD014600003828"}'
expect_status 200 "POST /orders/$first_order/ship"
http "$admin" POST "$ORDER_URL/orders/$first_order/deliver"
expect_status 200 "POST /orders/$first_order/deliver"
http "$customer" GET "$ORDER_URL/orders/$first_order"
expect_status 200 "GET /orders/$first_order"
first_status="$(json_field status "$HTTP_BODY")"
[[ "$first_status" == delivered ]] ||
  die "order $first_order: expected delivered, got $first_status: $HTTP_BODY"
info "order $first_order is $first_status (as its customer reads it)"

step "the product's stock"
http "" GET "$PRODUCT_URL/products/$product_id"
expect_status 200 "GET /products/$product_id"
final_stock="$(json_field stock "$HTTP_BODY")"
[[ "$final_stock" == 1 ]] ||
  die "product $product_id: expected stock 1, got '${final_stock}': $HTTP_BODY"
info "product $product_id has $final_stock unit left"

step "all checks passed"
printf '    %-14s %-38s %s\n' \
  "product" "$product_id" "stock 3 -> $final_stock" \
  "first order" "$first_order" "2 units, confirmed, $first_status" \
  "second order" "$second_order" "2 units, $second_status ($second_reason)"

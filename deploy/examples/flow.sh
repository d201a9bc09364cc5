#!/usr/bin/env bash
# The order flow end to end, against running services, with nothing but curl:
#
#   1. create a product with 3 units in stock;
#   2. order 2 units: the inventory has them, the order becomes `confirmed`;
#   3. once that order is settled, order 2 more units: only 1 is left, the order becomes
#      `rejected` with the reason `insufficient_stock`;
#   4. the product has 1 unit left.
#
# Orders are placed `pending` and settled asynchronously (over the event bus), so each one is polled
# with GET /orders/{id} until it leaves `pending` (at most POLL_TIMEOUT_SECS).
#
# Usage: deploy/examples/flow.sh [ORDER_URL] [PRODUCT_URL]
#        (defaults: http://127.0.0.1:8080 and http://127.0.0.1:3000, as started by `make run`)
# Exits 0 when every check holds, non-zero with a message on the first one that does not.
set -euo pipefail

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

# http METHOD URL [JSON_BODY]
# Sends one request and sets HTTP_STATUS (e.g. 201) and HTTP_BODY (the response body).
http() {
  local method="$1" url="$2" body="${3:-}" response
  local args=(--silent --show-error --connect-timeout 5 --max-time 15
    --request "$method" --header 'accept: application/json'
    --write-out '\n%{http_code}')
  if [[ -n "$body" ]]; then
    args+=(--header 'content-type: application/json' --data "$body")
  fi
  if ! response="$(curl "${args[@]}" "$url")"; then
    die "$method $url failed: is the service running?"
  fi
  # The status code is the last line (added by --write-out), the body is everything before it.
  HTTP_STATUS="${response##*$'\n'}"
  HTTP_BODY="${response%$'\n'*}"
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
# Polls GET /orders/{id} until the order leaves `pending`; sets ORDER_BODY and ORDER_STATUS.
wait_for_order() {
  local id="$1" deadline=$((SECONDS + POLL_TIMEOUT_SECS))
  while :; do
    http GET "$ORDER_URL/orders/$id"
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

# place_order PRODUCT_ID QUANTITY: POST /orders; sets ORDER_ID.
place_order() {
  http POST "$ORDER_URL/orders" \
    "{\"items\": [{\"product_id\": \"$1\", \"quantity\": $2}]}"
  expect_status 201 "POST /orders"
  ORDER_ID="$(json_field id "$HTTP_BODY")"
  [[ -n "$ORDER_ID" ]] || die "POST /orders: no id in the answer: $HTTP_BODY"
  info "order $ORDER_ID placed: $2 units, status $(json_field status "$HTTP_BODY"), total $(json_field total "$HTTP_BODY")"
}

printf 'order service:   %s\nproduct service: %s\n' "$ORDER_URL" "$PRODUCT_URL"

step "the services answer"
for url in "$PRODUCT_URL" "$ORDER_URL"; do
  http GET "$url/health"
  expect_status 200 "GET $url/health"
  info "$url/health: $(json_field status "$HTTP_BODY")"
done

step "create a product with 3 units in stock"
product_name="flow-example-$(date +%s)-$$-$RANDOM"
http POST "$PRODUCT_URL/products" \
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

step "the product's stock"
http GET "$PRODUCT_URL/products/$product_id"
expect_status 200 "GET /products/$product_id"
final_stock="$(json_field stock "$HTTP_BODY")"
[[ "$final_stock" == 1 ]] ||
  die "product $product_id: expected stock 1, got '${final_stock}': $HTTP_BODY"
info "product $product_id has $final_stock unit left"

step "all checks passed"
printf '    %-14s %-38s %s\n' \
  "product" "$product_id" "stock 3 -> $final_stock" \
  "first order" "$first_order" "2 units, $first_status" \
  "second order" "$second_order" "2 units, $second_status ($second_reason)"

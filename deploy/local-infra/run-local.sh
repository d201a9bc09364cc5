#!/usr/bin/env bash
# Starts MariaDB, Redis and RabbitMQ from the distribution's packages (deploy/local-infra/
# infra.sh), builds both services, and runs them against those servers: order service on
# :8080, product service on :3000. Ctrl-C stops the services and the servers this script started.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }

INFRA_DIR="${INFRA_DIR:-$root/target/run-infra}"
export INFRA_DIR
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$here/infra.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

"$here/infra.sh" up
# shellcheck disable=SC1091
source "$INFRA_DIR/env.sh"
cargo build -q -p order-service -p product-service

export RUST_LOG="${RUST_LOG:-info}"
export APP__REDIS__URL="$TEST_REDIS_URL"
# Each service as its own broker user when the broker has them (one infra.sh started does).
APP__AMQP__URL="${TEST_AMQP_PRODUCT_URL:-$TEST_AMQP_URL}" APP__HTTP__PORT=3000 \
  APP__DATABASE__URL="$TEST_MYSQL_URL/productdb" target/debug/product-service &
pids+=($!)
for _ in $(seq 1 100); do
  APP__HTTP__PORT=3000 target/debug/product-service healthcheck >/dev/null 2>&1 && break
  sleep 0.2
done
APP__AMQP__URL="${TEST_AMQP_ORDER_URL:-$TEST_AMQP_URL}" APP__HTTP__PORT=8080 \
  APP__DATABASE__URL="$TEST_MYSQL_URL/orderdb" \
  APP__PRODUCT_SERVICE__URL=http://127.0.0.1:3000 target/debug/order-service &
pids+=($!)
cat <<MSG

  order service    http://127.0.0.1:8080   (Swagger UI: http://127.0.0.1:8080/swagger-ui/)
  product service  http://127.0.0.1:3000   (Swagger UI: http://127.0.0.1:3000/swagger-ui/)
  data under       $INFRA_DIR
  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"

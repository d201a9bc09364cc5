#!/usr/bin/env bash
# Starts MariaDB, Redis and RabbitMQ from the distribution's packages (deploy/local-infra/
# infra.sh), builds both services, and runs them against those servers: order service on
# :8080, product service on :3000. Ctrl-C stops the services and the servers this script started.
#
# Both services trust the local development key: the standalone system's, in data/keys (made on
# first use; the same `make run` uses), so that one command mints tokens for either way of running
# locally: cargo run -q -p standalone -- token --sub alice --role customer
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
# Apart: the standalone binary links the services without their distributed adapters.
cargo build -q -p standalone
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

# The key: made by the first token, the standalone system's issuer and audience.
keys="$root/data/keys"
"$bin/standalone" token --data-dir "$root/data" --sub local-admin --role admin >/dev/null
export APP__AUTH__PUBLIC_KEY_FILE="$keys/signing-key.pub.pem"
export APP__AUTH__ISSUER=standalone APP__AUTH__AUDIENCE=shop-api

export RUST_LOG="${RUST_LOG:-info}"
export APP__REDIS__URL="$TEST_REDIS_URL"
# Each service as its own broker user when the broker has them (one infra.sh started does).
APP__AMQP__URL="${TEST_AMQP_PRODUCT_URL:-$TEST_AMQP_URL}" APP__HTTP__PORT=3000 \
  APP__DATABASE__URL="$TEST_MYSQL_URL/productdb" "$bin/product-service" &
pids+=($!)
for _ in $(seq 1 100); do
  APP__HTTP__PORT=3000 "$bin/product-service" healthcheck >/dev/null 2>&1 && break
  sleep 0.2
done
APP__AMQP__URL="${TEST_AMQP_ORDER_URL:-$TEST_AMQP_URL}" APP__HTTP__PORT=8080 \
  APP__DATABASE__URL="$TEST_MYSQL_URL/orderdb" \
  APP__PRODUCT_SERVICE__URL=http://127.0.0.1:3000 "$bin/order-service" &
pids+=($!)
cat <<MSG

  order service    http://127.0.0.1:8080   (Swagger UI: http://127.0.0.1:8080/swagger-ui/)
  product service  http://127.0.0.1:3000   (Swagger UI: http://127.0.0.1:3000/swagger-ui/)
  data under       $INFRA_DIR
  tokens           signed with $keys/signing-key.pem (from the repository root):
                     cargo run -q -p standalone -- token --sub alice --role customer
                     cargo run -q -p standalone -- token --sub ops --role admin
                   sent as \`Authorization: Bearer <token>\` (Swagger UI: Authorize);
                   product reads and /health need none. make flow runs the example flow.
  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"

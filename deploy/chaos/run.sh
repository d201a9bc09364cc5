#!/usr/bin/env bash
# make chaos: builds the services with fault points (a debug build, moved to target/chaos/),
# starts MariaDB, Redis and RabbitMQ of their own (fresh data, private ports, so that stopping
# and pausing them never touches the test servers), runs the chaos harness against them and
# stops them again. Arguments are scenario numbers (default: all eight).
#
# Service logs and the figures (report.txt) are left in target/chaos-logs/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

export INFRA_DIR="${CHAOS_INFRA_DIR:-$root/target/chaos-infra}"
export TEST_MYSQL_PORT="${CHAOS_MYSQL_PORT:-13316}"
export TEST_REDIS_PORT="${CHAOS_REDIS_PORT:-16389}"
export TEST_AMQP_PORT="${CHAOS_AMQP_PORT:-15683}"
export TEST_RABBIT_DIST_PORT="${CHAOS_RABBIT_DIST_PORT:-25683}"
export TEST_RABBIT_EPMD_PORT="${CHAOS_RABBIT_EPMD_PORT:-14379}"
export TEST_RABBIT_NODE="${CHAOS_RABBIT_NODE:-chaos@localhost}"
export INFRA_SCRIPT="$root/deploy/local-infra/infra.sh"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
export CHAOS_BIN_DIR="$target_dir/chaos"
export CHAOS_LOG_DIR="$root/target/chaos-logs"

# A debug build beside the ordinary one: the dependencies' artifacts are shared (only the
# project's crates compile again with the feature), and the binaries are moved out of
# target/debug/ at once, so that no ordinary path ever holds a binary with fault points (the
# next cargo build puts the ordinary ones back).
echo "chaos: building the services with fault points (debug build, moved to $CHAOS_BIN_DIR)" >&2
cargo build -p chaos -p order-service -p product-service \
  --features order-service/fault-points,product-service/fault-points
mkdir -p "$CHAOS_BIN_DIR"
for bin in chaos order-service product-service; do
  # A second run with nothing rebuilt finds cargo's hard link to the binary already moved:
  # mv refuses to move a file onto itself, so the old copy goes first.
  rm -f "$CHAOS_BIN_DIR/$bin"
  mv "$target_dir/debug/$bin" "$CHAOS_BIN_DIR/$bin"
done

# Fresh servers: every run starts from empty databases, queues and caches.
"$INFRA_SCRIPT" clean >/dev/null 2>&1 || true
rm -rf "$CHAOS_LOG_DIR"
mkdir -p "$CHAOS_LOG_DIR"

exec "$root/deploy/local-infra/with-infra.sh" "$CHAOS_BIN_DIR/chaos" "$@"

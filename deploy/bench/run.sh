#!/usr/bin/env bash
# make bench: builds the services and the load generator, starts MariaDB, Redis and RabbitMQ of
# its own (fresh data, private ports, so it never disturbs the test servers), measures the
# machine's ceilings and every endpoint in both compositions (crates/bench), stops the servers.
# The table is printed and written to target/bench/report.md and report.json; service logs
# are left in target/bench/logs/.
#
# Settings (environment):
#   SMOKE=1 or BENCH_MODE=smoke  every step for a second or two, small seeds, no timing asserted
#                                (what CI runs); BENCH_MODE=full (the default) is the measurement
#   BENCH_PROFILE=dev|release    how the binaries are built (smoke: dev, reusing what
#                                `make test` built; full: release)
#   BENCH_BUILD=0                use the binaries already built, build nothing
#   BENCH_ONLY=distributed|standalone  measure one composition (and the ceilings)
#   BENCH_SEED_ORDERS, BENCH_OPEN_RATE, BENCH_OPEN_SECS, BENCH_READ_SECS, BENCH_WRITE_SECS,
#   BENCH_SETTLE_CAP_SECS        override the sizes of the run (see crates/bench/src/plan.rs)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

die() {
  echo "bench: $*" >&2
  exit 1
}

if [[ "${SMOKE:-0}" == 1 ]]; then
  BENCH_MODE=smoke
fi
export BENCH_MODE="${BENCH_MODE:-full}"
case "$BENCH_MODE" in
  smoke) default_profile=dev ;;
  full) default_profile=release ;;
  *) die "BENCH_MODE=$BENCH_MODE: expected smoke or full" ;;
esac
export BENCH_PROFILE="${BENCH_PROFILE:-$default_profile}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$BENCH_PROFILE" in
  dev) bin_dir="$target_dir/debug" ;;
  release) bin_dir="$target_dir/release" ;;
  *) die "BENCH_PROFILE=$BENCH_PROFILE: expected dev or release" ;;
esac

missing=()
command -v cargo >/dev/null 2>&1 || missing+=("cargo (https://rustup.rs)")
command -v sysbench >/dev/null 2>&1 || missing+=("sysbench (Debian: apt-get install -y sysbench)")
command -v redis-benchmark >/dev/null 2>&1 ||
  missing+=("redis-benchmark (Debian: apt-get install -y redis-tools)")
if ((${#missing[@]})); then
  printf 'bench: missing tools:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

if [[ "${BENCH_BUILD:-1}" != 0 ]]; then
  if [[ "$BENCH_PROFILE" == dev ]]; then
    # The selection `make test` builds (cargo test --workspace --all-targets), so that features
    # unify the same way and its libraries are reused: after it, only the binaries' own crates
    # are compiled and linked. A narrower selection would unify features differently and
    # rebuild most of the workspace.
    echo "bench: building (dev; reuses what make test built)" >&2
    cargo build --workspace --all-targets -q
  else
    echo "bench: building (release)" >&2
    # Two invocations: standalone links the services without their distributed adapters,
    # which one invocation with the service binaries would turn back on.
    cargo build --release -q -p bench -p order-service -p product-service
    cargo build --release -q -p standalone
  fi
fi
export BENCH_BIN_DIR="$bin_dir"
export BENCH_OUT_DIR="${BENCH_OUT_DIR:-$root/target/bench}"
export BENCH_ORDER_TX_LUA="$here/order_tx.lua"
[[ -x "$bin_dir/bench" ]] || die "$bin_dir/bench is missing: build it (or drop BENCH_BUILD=0)"

export INFRA_DIR="${BENCH_INFRA_DIR:-$root/target/bench-infra}"
export TEST_MYSQL_PORT="${BENCH_MYSQL_PORT:-13326}"
export TEST_REDIS_PORT="${BENCH_REDIS_PORT:-16399}"
export TEST_AMQP_PORT="${BENCH_AMQP_PORT:-15693}"
export TEST_RABBIT_DIST_PORT="${BENCH_RABBIT_DIST_PORT:-25693}"
export TEST_RABBIT_EPMD_PORT="${BENCH_RABBIT_EPMD_PORT:-14389}"
export TEST_RABBIT_NODE="${BENCH_RABBIT_NODE:-bench@localhost}"

# Fresh servers: every run starts from empty databases, queues and caches.
"$root/deploy/local-infra/infra.sh" clean >/dev/null 2>&1 || true
rm -rf "$BENCH_OUT_DIR"
mkdir -p "$BENCH_OUT_DIR"

exec "$root/deploy/local-infra/with-infra.sh" "$bin_dir/bench" run

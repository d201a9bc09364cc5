#!/usr/bin/env bash
# Starts the standalone binary (on a fresh data directory, on free ports) and runs the example
# flow and the Swagger UI browser check against it, with tokens from its own `token` command,
# then stops it with Ctrl-C (SIGINT), as a user would.
#
# Usage: deploy/examples/standalone-checks.sh   (builds the binary first; `make test` runs it)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

cargo build -q -p standalone
bin="${CARGO_TARGET_DIR:-target}/debug/standalone"
out="$(mktemp)"
# A data directory of its own: the system makes its signing key there on start, and the flow and
# the browser check sign their tokens with it (`standalone token --data-dir`).
data="$(mktemp -d)"
export STANDALONE_BIN="$bin" STANDALONE_DATA_DIR="$data"
"$bin" --data-dir "$data" --order-port 0 --product-port 0 >"$out" 2>&1 &
pid=$!
stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$out" "$data"
}
trap stop EXIT

url() { grep -m1 "$1" "$out" | grep -o 'http://[0-9.:]*' | head -n1; }
for _ in $(seq 1 150); do
  order="$(url 'order API' || true)"
  product="$(url 'product API' || true)"
  [[ -n "$order" && -n "$product" ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; echo "standalone exited early" >&2; exit 1; }
  sleep 0.2
done
[[ -n "${order:-}" && -n "${product:-}" ]] || { cat "$out" >&2; echo "no banner from standalone" >&2; exit 1; }
echo "standalone: order API $order, product API $product"

"$here/flow.sh" "$order" "$product"
"$here/swagger-ui-check.sh" "$order" "$product"

# The metrics after the flow, as Prometheus would scrape them, checked by its own linter.
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool is missing: install it (Debian: apt-get install prometheus)" >&2
  exit 1
fi
for api in "$order" "$product"; do
  curl -fsS "$api/metrics" | promtool check metrics
  echo "promtool check metrics: $api/metrics OK"
done

kill -INT "$pid"
if ! wait "$pid"; then
  cat "$out" >&2
  echo "standalone did not stop cleanly on Ctrl-C" >&2
  exit 1
fi
grep -q "stopped cleanly" "$out" || { cat "$out" >&2; echo "no clean stop reported" >&2; exit 1; }
echo "standalone: stopped cleanly on SIGINT"

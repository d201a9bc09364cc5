#!/usr/bin/env bash
# Starts the standalone binary (in memory, on free ports) and runs the example flow and the
# Swagger UI browser check against it, then stops it with Ctrl-C (SIGINT), as a user would.
#
# Usage: deploy/examples/standalone-checks.sh   (builds the binary first; `make test` runs it)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

cargo build -q -p standalone
out="$(mktemp)"
target/debug/standalone --in-memory --order-port 0 --product-port 0 >"$out" 2>&1 &
pid=$!
stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$out"
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

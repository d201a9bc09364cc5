#!/usr/bin/env bash
# Renders one trace, as written by crates/testkit/tests/observability.rs, as a Jaeger-like
# waterfall and screenshots it to PNG with headless Chromium (see render.mjs).
#
# Usage: deploy/observability/trace-view/render.sh TRACE.json OUT.png
#   e.g. deploy/observability/trace-view/render.sh \
#          target/observability/trace-distributed.json docs/images/trace-of-one-order.png
#   (the JSON comes from `deploy/local-infra/with-infra.sh cargo test -p testkit --test observability`)
#
# Needs Node.js 20 or later. Installs what else it needs when missing:
#   - Chromium from the Debian package `chromium` (with apt-get when run as root);
#     CHROMIUM=/path/to/chrome uses another build instead;
#   - playwright-core, at the version deploy/examples/swagger-ui-check locks, into
#     target/swagger-ui-check/node_modules (never a browser download; shared with that check).
# The HTML page it screenshots is kept as target/swagger-ui-check/<TRACE>.html.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CACHE_DIR="$root/target/swagger-ui-check"

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'trace-view: error: %s\n' "$*" >&2
  exit 1
}

if [[ $# -ne 2 ]]; then
  echo "usage: $0 TRACE.json OUT.png" >&2
  exit 2
fi
[[ -f "$1" ]] || die "no trace at $1: run \`deploy/local-infra/with-infra.sh cargo test -p testkit --test observability\` first"
input="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
mkdir -p "$(dirname "$2")"
output="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"

# shellcheck source=deploy/examples/headless-chromium.sh
. "$root/deploy/examples/headless-chromium.sh"
headless_chromium "$CACHE_DIR"

say "rendering ${input#"$root"/} with $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
TRACE_VIEW_DIR="$CACHE_DIR" CHROMIUM="$CHROMIUM" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  exec node "$here/render.mjs" "$input" "$output"

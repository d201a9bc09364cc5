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
#   - playwright-core, at the version locked in package-lock.json here, into
#     target/trace-view/node_modules (never a browser download).
# The HTML page it screenshots is kept as target/trace-view/<TRACE>.html.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CACHE_DIR="$root/target/trace-view"

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

# Node.js: a prerequisite, not installed here.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  die "node and npm are required: install Node.js 20 or later (https://nodejs.org)"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js 20 or later is required, found $(node --version)"

# Chromium: Debian's package, installed with apt-get when we are root.
if [[ ! -x "$CHROMIUM" ]]; then
  if [[ "$CHROMIUM" == /usr/bin/chromium && "$EUID" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing Chromium (Debian package chromium)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q chromium
  else
    die "no Chromium at $CHROMIUM: install it (Debian/Ubuntu: apt-get install chromium) or set CHROMIUM to a Chrome/Chromium binary"
  fi
fi

# playwright-core: reinstalled whenever the committed lock file changes. `npm ci` installs exactly
# what the lock file names; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD and --ignore-scripts make sure no
# browser is downloaded.
mkdir -p "$CACHE_DIR"
if [[ ! -f "$CACHE_DIR/node_modules/playwright-core/package.json" ]] ||
  ! cmp -s "$here/package-lock.json" "$CACHE_DIR/package-lock.json"; then
  say "installing playwright-core into ${CACHE_DIR#"$root"/}"
  cp "$here/package.json" "$here/package-lock.json" "$CACHE_DIR/"
  (cd "$CACHE_DIR" &&
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

say "rendering ${input#"$root"/} with $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
TRACE_VIEW_DIR="$CACHE_DIR" CHROMIUM="$CHROMIUM" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  exec node "$here/render.mjs" "$input" "$output"

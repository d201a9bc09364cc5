#!/usr/bin/env bash
# Checks the Swagger UI of both running services in headless Chromium: the operations are listed,
# and "Try it out" creates a product and places an order that gets confirmed (see
# swagger-ui-check.mjs for the details).
#
# Usage: deploy/examples/swagger-ui-check.sh [ORDER_URL] [PRODUCT_URL]
#        (defaults: http://127.0.0.1:8080 and http://127.0.0.1:3000, as started by `make run`)
#
# Needs Node.js 20 or later. Installs what else it needs when missing:
#   - Chromium from the Debian package `chromium` (with apt-get when run as root);
#     CHROMIUM=/path/to/chrome uses another build instead;
#   - playwright-core, at the version locked in swagger-ui-check/package-lock.json, into
#     target/swagger-ui-check/node_modules (never a browser download).
# Screenshots land in target/swagger-ui-check/*.png.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ORDER_URL="${1:-http://127.0.0.1:8080}"
PRODUCT_URL="${2:-http://127.0.0.1:3000}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CACHE_DIR="$root/target/swagger-ui-check"
LOCK_DIR="$here/swagger-ui-check"

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'swagger-ui-check: error: %s\n' "$*" >&2
  exit 1
}

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
  ! cmp -s "$LOCK_DIR/package-lock.json" "$CACHE_DIR/package-lock.json"; then
  say "installing playwright-core into ${CACHE_DIR#"$root"/}"
  cp "$LOCK_DIR/package.json" "$LOCK_DIR/package-lock.json" "$CACHE_DIR/"
  (cd "$CACHE_DIR" &&
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

say "checking the Swagger UIs with $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
SWAGGER_UI_CHECK_DIR="$CACHE_DIR" CHROMIUM="$CHROMIUM" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  exec node "$here/swagger-ui-check.mjs" "$ORDER_URL" "$PRODUCT_URL"

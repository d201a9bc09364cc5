#!/usr/bin/env bash
# Checks the Swagger UI of both running services in headless Chromium: the operations are listed,
# and, authorized through "Authorize", "Try it out" creates a product (as an admin) and places an
# order (as a customer) that gets confirmed (see swagger-ui-check.mjs for the details).
#
# Tokens: SHOP_ADMIN_TOKEN and SHOP_CUSTOMER_TOKEN when set, else made with the standalone
# binary's `token` command (see tokens.sh: the key in <repo>/data, or STANDALONE_DATA_DIR).
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

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'swagger-ui-check: error: %s\n' "$*" >&2
  exit 1
}

# shellcheck source=deploy/examples/headless-chromium.sh
. "$here/headless-chromium.sh"
# shellcheck source=deploy/examples/tokens.sh
. "$here/tokens.sh"
headless_chromium "$CACHE_DIR"

if [[ -z "${SHOP_ADMIN_TOKEN:-}" ]]; then
  SHOP_ADMIN_TOKEN="$(mint_token swagger-ui-admin admin)" || die "could not make an admin token"
fi
if [[ -z "${SHOP_CUSTOMER_TOKEN:-}" ]]; then
  SHOP_CUSTOMER_TOKEN="$(mint_token "swagger-ui-customer-$$" customer)" ||
    die "could not make a customer token"
fi
export SHOP_ADMIN_TOKEN SHOP_CUSTOMER_TOKEN

say "checking the Swagger UIs with $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
SWAGGER_UI_CHECK_DIR="$CACHE_DIR" CHROMIUM="$CHROMIUM" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  exec node "$here/swagger-ui-check.mjs" "$ORDER_URL" "$PRODUCT_URL"

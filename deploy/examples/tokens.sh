# Sourced by the example scripts: bearer tokens for the local systems.
#
# mint_token SUBJECT ROLE   prints a token for SUBJECT in ROLE (customer or admin), signed with
#                           the standalone system's key: the one in STANDALONE_DATA_DIR/keys
#                           (default <repo>/data, where `make run` keeps it and where `make
#                           run-services` points both services), made there when missing.
#
# STANDALONE_BIN names the standalone binary; by default it is built and run through cargo.
# Services that trust another issuer need tokens from it instead: the scripts take those from
# SHOP_ADMIN_TOKEN, SHOP_CUSTOMER_TOKEN and SHOP_OTHER_CUSTOMER_TOKEN.

tokens_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

mint_token() {
  local data_dir="${STANDALONE_DATA_DIR:-$tokens_root/data}"
  local args=(token --sub "$1" --role "$2" --data-dir "$data_dir")
  if [[ -n "${STANDALONE_BIN:-}" ]]; then
    "$STANDALONE_BIN" "${args[@]}"
  else
    command -v cargo >/dev/null 2>&1 ||
      { echo "cargo is required to make tokens (https://rustup.rs), or set STANDALONE_BIN" >&2; return 1; }
    cargo run -q --manifest-path "$tokens_root/Cargo.toml" -p standalone -- "${args[@]}"
  fi
}

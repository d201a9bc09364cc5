#!/usr/bin/env bash
# Run a command with the local test servers up (see infra.sh), e.g.
#
#   deploy/local-infra/with-infra.sh cargo test --workspace
#
# The TEST_*_URL variables are exported for the command. Whatever `infra.sh up`
# started here is stopped again afterwards, also when the command fails or on
# Ctrl-C; servers that were already running are left alone. Exits with the
# command's status.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

INFRA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/infra.sh"
RECORD="$(mktemp "${TMPDIR:-/tmp}/with-infra.XXXXXX")"

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? started=()
  trap - EXIT INT TERM
  if [[ -s "$RECORD" ]]; then
    mapfile -t started <"$RECORD"
  fi
  rm -f "$RECORD"
  if ((${#started[@]})); then
    if ! "$INFRA" down "${started[@]}"; then
      echo "with-infra: stopping the test servers failed" >&2
      ((rc != 0)) || rc=1
    fi
  else
    echo "with-infra: no server was started here; nothing to stop" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$INFRA" up --record "$RECORD"
eval "$("$INFRA" env)"

status=0
"$@" || status=$?
exit "$status"

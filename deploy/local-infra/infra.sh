#!/usr/bin/env bash
# Local MariaDB, Redis and RabbitMQ servers for the integration tests.
#
# Usage: infra.sh up [--record FILE] | down [SERVER...] | env | status | clean
#
#   up      Make sure every server answers on its loopback port. A server that
#           already answers is reused and never stopped by this script; a missing
#           one is installed (root on Debian: apt-get), started detached with all
#           its files under $INFRA_DIR and waited for. The servers this call
#           started are recorded so that `down` stops only those; --record FILE
#           also writes their names to FILE, one per line.
#   down    Stop the servers started by `up` (all of them, or the SERVERs named:
#           mysql, redis, rabbitmq). Data is kept.
#   env     Print `export` lines with the connection URLs the tests read: beside
#           the admin URL TEST_AMQP_URL, TEST_AMQP_ORDER_URL and
#           TEST_AMQP_PRODUCT_URL (the services' own users, created on every `up`
#           of a broker this script started, see deploy/rabbitmq/service-users.sh)
#           and TEST_RABBITMQ_API_URL (the management API, where the tests copy
#           the users' topic permissions to their own exchanges).
#   status  Tell for each server whether it answers and who started it.
#   clean   `down`, then remove $INFRA_DIR.
#
# Settings (environment): TEST_MYSQL_PORT (13306), TEST_REDIS_PORT (16379),
# TEST_AMQP_PORT (15673), TEST_RABBIT_MGMT_PORT (TEST_AMQP_PORT + 2),
# TEST_RABBIT_DIST_PORT (25673), TEST_RABBIT_EPMD_PORT (14369), INFRA_DIR (<repo>/target/test-infra), INFRA_TIMEOUT (60 seconds to
# wait for each server), INFRA_STOP_TIMEOUT (30 seconds before SIGKILL).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

INFRA_DIR="${INFRA_DIR:-$REPO_ROOT/target/test-infra}"
case "$INFRA_DIR" in
  /*) ;;
  *) INFRA_DIR="$PWD/$INFRA_DIR" ;;
esac
STATE_DIR="$INFRA_DIR/state"
OWNED_FILE="$STATE_DIR/owned"

MYSQL_PORT="${TEST_MYSQL_PORT:-13306}"
REDIS_PORT="${TEST_REDIS_PORT:-16379}"
AMQP_PORT="${TEST_AMQP_PORT:-15673}"
RABBIT_MGMT_PORT="${TEST_RABBIT_MGMT_PORT:-$((AMQP_PORT + 2))}"
RABBIT_DIST_PORT="${TEST_RABBIT_DIST_PORT:-25673}"
RABBIT_EPMD_PORT="${TEST_RABBIT_EPMD_PORT:-14369}"
RABBIT_NODE="${TEST_RABBIT_NODE:-infra-test@localhost}"
START_TIMEOUT="${INFRA_TIMEOUT:-60}"
STOP_TIMEOUT="${INFRA_STOP_TIMEOUT:-30}"

SERVERS=(mysql redis rabbitmq)
RABBIT_BIN_DIR=/usr/lib/rabbitmq/bin
APT_UPDATED=0
UP_STARTED=0
RECORD_FILE=""

log() { printf 'infra: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---------------------------------------------------------------------------
# Small helpers

port_open() {
  # shellcheck disable=SC2016 # $0 is expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

server_port() {
  case "$1" in
    mysql) echo "$MYSQL_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    rabbitmq) echo "$AMQP_PORT" ;;
    *) die "unknown server '$1' (expected one of: ${SERVERS[*]})" ;;
  esac
}

server_package() {
  case "$1" in
    mysql) echo mariadb-server ;;
    redis) echo redis-server ;;
    rabbitmq) echo rabbitmq-server ;;
  esac
}

# The process names a pid recorded for this server may legitimately have.
server_comm_pattern() {
  case "$1" in
    mysql) echo '^(mariadbd|mysqld)$' ;;
    redis) echo '^redis-server$' ;;
    rabbitmq) echo '^(rabbitmq-server|beam\.smp)$' ;;
    epmd) echo '^epmd$' ;;
  esac
}

pid_file() { echo "$STATE_DIR/$1.pid"; }

find_bin() {
  local name dir
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
    for dir in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
      if [[ -x "$dir/$name" ]]; then
        echo "$dir/$name"
        return 0
      fi
    done
  done
  return 1
}

# A process that exists and is not a zombie.
pid_alive() {
  local state
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
  state="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z* ]]
}

# Any live (non-zombie) process left in process group $1.
group_alive() {
  ps -eo pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# The recorded pid of NAME if it is alive and looks like the process we started.
owned_pid() {
  local name="$1" file pid comm
  file="$(pid_file "$name")"
  [[ -f "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  comm="$(ps -o comm= -p "$pid" 2>/dev/null || true)"
  [[ "$comm" =~ $(server_comm_pattern "$name") ]] || return 1
  echo "$pid"
}

is_owned() { [[ -f "$OWNED_FILE" ]] && grep -qx "$1" "$OWNED_FILE"; }

mark_owned() {
  mkdir -p "$STATE_DIR"
  is_owned "$1" || echo "$1" >>"$OWNED_FILE"
  if [[ -n "$RECORD_FILE" ]]; then
    echo "$1" >>"$RECORD_FILE"
  fi
}

unmark_owned() {
  local rest
  [[ -f "$OWNED_FILE" ]] || return 0
  rest="$(grep -vx "$1" "$OWNED_FILE" || true)"
  if [[ -n "$rest" ]]; then
    printf '%s\n' "$rest" >"$OWNED_FILE"
  else
    rm -f "$OWNED_FILE"
  fi
}

# Launch a command detached in its own session, in the directory of its output
# file (so that nothing it drops lands in the caller's directory); record its pid.
launch() {
  local name="$1" out="$2"
  shift 2
  mkdir -p "$STATE_DIR" "$(dirname "$out")"
  (cd "$(dirname "$out")" && exec setsid nohup "$@" </dev/null >"$out" 2>&1) &
  echo "$!" >"$(pid_file "$name")"
}

# Stop the process group we started as NAME: SIGTERM, then SIGKILL after STOP_TIMEOUT.
stop_pid_group() {
  local name="$1" pid pgid deadline
  if ! pid="$(owned_pid "$name")"; then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  pgid="$(ps -o pgid= -p "$pid" | tr -d ' ')"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while pid_alive "$pid" || { [[ "$pgid" == "$pid" ]] && group_alive "$pgid"; }; do
    if ((SECONDS >= deadline)); then
      log "$name: still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      if [[ "$pgid" == "$pid" ]]; then
        kill -KILL -- "-$pgid" 2>/dev/null || true
      else
        kill -KILL "$pid" 2>/dev/null || true
      fi
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  # Reap it if it is our own child (a failed start within this invocation).
  wait "$pid" 2>/dev/null || true
  rm -f "$(pid_file "$name")"
}

# wait_ready NAME CHECK...: run CHECK until it succeeds, the process dies or time runs out.
wait_ready() {
  local name="$1" deadline pid
  shift
  deadline=$((SECONDS + START_TIMEOUT))
  pid="$(<"$(pid_file "$name")")"
  while ! "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pid"; then
      log "$name: the server process exited during startup"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$name: not ready after ${START_TIMEOUT}s"
      return 1
    fi
    sleep 0.2
  done
}

show_logs() {
  local file
  for file in "$@"; do
    [[ -s "$file" ]] || continue
    log "---- last lines of $file ----"
    tail -n 40 "$file" >&2
  done
}

apt_install() {
  local pkg="$1"
  if [[ "$EUID" -ne 0 ]]; then
    die "$pkg is not installed and this is not root: install it with 'sudo apt-get install -y $pkg' and run again"
  fi
  if ! command -v apt-get >/dev/null 2>&1 || [[ ! -f /etc/debian_version ]]; then
    die "$pkg is not installed and this is not Debian: install the package providing it ($pkg on Debian) and run again"
  fi
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    log "running apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >&2 ||
      die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "installing $pkg with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "$pkg" >&2 ||
    die "apt-get install $pkg failed"
}

# ---------------------------------------------------------------------------
# MariaDB

MYSQL_DIR="$INFRA_DIR/mysql"
MYSQL_DATA="$MYSQL_DIR/data"
MYSQL_LOG="$MYSQL_DIR/mysqld.log"
MYSQL_SOCK="$MYSQL_DIR/mysqld.sock"
if ((${#MYSQL_SOCK} > 100)); then
  # Unix socket paths are limited to 108 bytes.
  MYSQL_SOCK="${TMPDIR:-/tmp}/infra-mysqld-$(id -u)-$MYSQL_PORT.sock"
fi

mysql_bins() {
  MARIADBD="$(find_bin mariadbd mysqld)" &&
    MYSQL_INSTALL_DB="$(find_bin mariadb-install-db mysql_install_db)" &&
    MYSQL_CLIENT="$(find_bin mariadb mysql)"
}

# mariadb-install-db gives root@localhost, and the account named by
# --auth-root-socket-user, unix_socket authentication: connect as ourselves.
mysql_admin() {
  "$MYSQL_CLIENT" --no-defaults --protocol=socket --socket="$MYSQL_SOCK" -u"$(id -un)" "$@"
}

mysql_app_tcp() {
  "$MYSQL_CLIENT" --no-defaults --protocol=tcp -h127.0.0.1 -P"$MYSQL_PORT" -uapp -papp "$@"
}

mysql_has_data() { [[ -d "$MYSQL_DATA" ]]; }
mysql_wipe() { rm -rf "$MYSQL_DATA" "$MYSQL_DIR/.initialized"; }

mysql_start() {
  local me user_opt=()
  me="$(id -un)"
  if [[ "$EUID" -eq 0 ]]; then
    user_opt=(--user=root)
  fi
  mkdir -p "$MYSQL_DIR"
  if [[ ! -f "$MYSQL_DIR/.initialized" ]]; then
    rm -rf "$MYSQL_DATA"
    log "mysql: initialising $MYSQL_DATA"
    if ! "$MYSQL_INSTALL_DB" --no-defaults --datadir="$MYSQL_DATA" "${user_opt[@]}" \
      --auth-root-authentication-method=socket --auth-root-socket-user="$me" \
      --skip-test-db --skip-name-resolve >"$MYSQL_DIR/install.log" 2>&1; then
      log "mysql: mariadb-install-db failed"
      show_logs "$MYSQL_DIR/install.log"
      return 1
    fi
  fi
  rm -f "$MYSQL_SOCK" "$MYSQL_SOCK.lock" "$MYSQL_DIR/mysqld.pid"
  launch mysql "$MYSQL_DIR/stdout.log" "$MARIADBD" --no-defaults "${user_opt[@]}" \
    --datadir="$MYSQL_DATA" \
    --port="$MYSQL_PORT" --bind-address=127.0.0.1 \
    --socket="$MYSQL_SOCK" --pid-file="$MYSQL_DIR/mysqld.pid" \
    --log-error="$MYSQL_LOG" \
    --skip-name-resolve --skip-log-bin \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --default-time-zone=+00:00 \
    --max-connections=1000 \
    --innodb-buffer-pool-size=256M \
    --innodb-flush-log-at-trx-commit=2 \
    --innodb-doublewrite=0
  mark_owned mysql
  if ! wait_ready mysql mysql_admin -N -e 'SELECT 1'; then
    show_logs "$MYSQL_LOG" "$MYSQL_DIR/stdout.log"
    return 1
  fi
  if ! mysql_admin --batch <<'SQL'; then
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app';
CREATE USER IF NOT EXISTS 'app'@'localhost' IDENTIFIED BY 'app';
CREATE USER IF NOT EXISTS 'app'@'127.0.0.1' IDENTIFIED BY 'app';
ALTER USER 'app'@'%' IDENTIFIED BY 'app';
ALTER USER 'app'@'localhost' IDENTIFIED BY 'app';
ALTER USER 'app'@'127.0.0.1' IDENTIFIED BY 'app';
GRANT ALL PRIVILEGES ON *.* TO 'app'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'app'@'localhost' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'app'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    log "mysql: creating the app user failed"
    show_logs "$MYSQL_LOG"
    return 1
  fi
  if ! mysql_app_tcp -N -e 'SELECT 1' >/dev/null; then
    log "mysql: TCP login as app/app failed"
    show_logs "$MYSQL_LOG"
    return 1
  fi
  touch "$MYSQL_DIR/.initialized"
}

mysql_check_external() {
  if ! MYSQL_CLIENT="$(find_bin mariadb mysql)"; then
    log "mysql: no mysql client here to check the login; assuming app/app works"
    return 0
  fi
  mysql_app_tcp -N -e 'SELECT 1' >/dev/null 2>&1 ||
    die "mysql: something answers on 127.0.0.1:$MYSQL_PORT but does not accept user app/app; stop it or set TEST_MYSQL_PORT"
}

# ---------------------------------------------------------------------------
# Redis

REDIS_DIR="$INFRA_DIR/redis"
REDIS_LOG="$REDIS_DIR/redis.log"

redis_bins() {
  REDIS_SERVER="$(find_bin redis-server)" && REDIS_CLI="$(find_bin redis-cli)"
}

redis_ping() {
  [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

redis_has_data() { return 1; }
redis_wipe() { :; }

redis_start() {
  mkdir -p "$REDIS_DIR"
  launch redis "$REDIS_DIR/stdout.log" "$REDIS_SERVER" \
    --bind 127.0.0.1 --port "$REDIS_PORT" \
    --daemonize no --protected-mode yes \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_LOG" \
    --save '' --appendonly no
  mark_owned redis
  if ! wait_ready redis redis_ping; then
    show_logs "$REDIS_LOG" "$REDIS_DIR/stdout.log"
    return 1
  fi
}

redis_check_external() {
  if REDIS_CLI="$(find_bin redis-cli)"; then
    redis_ping || die "redis: something answers on 127.0.0.1:$REDIS_PORT but not to PING; stop it or set TEST_REDIS_PORT"
  fi
}

# ---------------------------------------------------------------------------
# RabbitMQ

RABBIT_DIR="$INFRA_DIR/rabbitmq"
RABBIT_HOME="$RABBIT_DIR/home"
RABBIT_LOG_DIR="$RABBIT_DIR/log"
RABBIT_ENV=(
  "HOME=$RABBIT_HOME"
  "RABBITMQ_NODENAME=$RABBIT_NODE"
  "RABBITMQ_USE_LONGNAME=false"
  "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
  "RABBITMQ_NODE_PORT=$AMQP_PORT"
  "RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT"
  "RABBITMQ_CTL_DIST_PORT_MIN=$((RABBIT_DIST_PORT + 1))"
  "RABBITMQ_CTL_DIST_PORT_MAX=$((RABBIT_DIST_PORT + 10))"
  "ERL_EPMD_PORT=$RABBIT_EPMD_PORT"
  "ERL_EPMD_ADDRESS=127.0.0.1"
  "RABBITMQ_MNESIA_BASE=$RABBIT_DIR/mnesia"
  "RABBITMQ_LOG_BASE=$RABBIT_LOG_DIR"
  "RABBITMQ_PID_FILE=$RABBIT_DIR/rabbitmq.pid"
  "RABBITMQ_CONF_ENV_FILE=$RABBIT_DIR/rabbitmq-env.conf"
  "RABBITMQ_CONFIG_FILE=$RABBIT_DIR/rabbitmq.conf"
  "RABBITMQ_ADVANCED_CONFIG_FILE=$RABBIT_DIR/advanced.config"
  "RABBITMQ_ENABLED_PLUGINS_FILE=$RABBIT_DIR/enabled_plugins"
  "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
  "ERL_CRASH_DUMP=$RABBIT_LOG_DIR/erl_crash.dump"
)

rabbit_bins() {
  [[ -x "$RABBIT_BIN_DIR/rabbitmq-server" && -x "$RABBIT_BIN_DIR/rabbitmqctl" ]] && EPMD="$(find_bin epmd)"
}

rabbitmqctl_() {
  env "${RABBIT_ENV[@]}" "$RABBIT_BIN_DIR/rabbitmqctl" -n "$RABBIT_NODE" "$@"
}

rabbit_has_data() { [[ -d "$RABBIT_DIR/mnesia" ]]; }
rabbit_wipe() { rm -rf "$RABBIT_DIR/mnesia"; }

rabbit_write_config() {
  mkdir -p "$RABBIT_HOME" "$RABBIT_LOG_DIR" "$RABBIT_DIR/mnesia"
  # Our own cookie: server and rabbitmqctl both find it through HOME.
  if [[ ! -s "$RABBIT_HOME/.erlang.cookie" ]]; then
    (
      umask 077
      LC_ALL=C tr -dc '[:upper:]' </dev/urandom | head -c 20 >"$RABBIT_HOME/.erlang.cookie"
    )
  fi
  chmod 400 "$RABBIT_HOME/.erlang.cookie"
  echo '# Written by infra.sh: keeps the system rabbitmq-env.conf out.' >"$RABBIT_DIR/rabbitmq-env.conf"
  # The management API: tests grant the service users topic permissions on their exchanges.
  echo '[rabbitmq_management].' >"$RABBIT_DIR/enabled_plugins"
  echo '[].' >"$RABBIT_DIR/advanced.config"
  cat >"$RABBIT_DIR/rabbitmq.conf" <<CONF
# Written by infra.sh. The AMQP listener address and port come from the environment.
loopback_users.guest = true
disk_free_limit.absolute = 50MB
log.file.level = info
log.console = false
management.tcp.ip = 127.0.0.1
management.tcp.port = $RABBIT_MGMT_PORT
CONF
}

# The services' users (see deploy/rabbitmq/service-users.sh), with the passwords `env` prints.
rabbit_users() {
  if ! ORDER_SERVICE_AMQP_PASSWORD=order-service PRODUCT_SERVICE_AMQP_PASSWORD=product-service \
    "$REPO_ROOT/deploy/rabbitmq/service-users.sh" \
    env "${RABBIT_ENV[@]}" "$RABBIT_BIN_DIR/rabbitmqctl" -n "$RABBIT_NODE" \
    >"$RABBIT_LOG_DIR/service-users.log" 2>&1; then
    log "rabbitmq: creating the service users failed"
    show_logs "$RABBIT_LOG_DIR/service-users.log"
    return 1
  fi
}

rabbit_mgmt_up() { port_open "$RABBIT_MGMT_PORT"; }

rabbit_amqp_up() { port_open "$AMQP_PORT"; }

rabbit_start() {
  local epmd_pid
  rabbit_write_config
  if port_open "$RABBIT_EPMD_PORT"; then
    if epmd_pid="$(owned_pid epmd)"; then
      log "rabbitmq: reusing our epmd (pid $epmd_pid) on port $RABBIT_EPMD_PORT"
    else
      rm -f "$(pid_file epmd)"
      log "rabbitmq: an epmd already answers on port $RABBIT_EPMD_PORT; using it"
    fi
  else
    launch epmd "$RABBIT_LOG_DIR/epmd.log" "$EPMD" -port "$RABBIT_EPMD_PORT" -address 127.0.0.1
    if ! wait_ready epmd port_open "$RABBIT_EPMD_PORT"; then
      show_logs "$RABBIT_LOG_DIR/epmd.log"
      stop_pid_group epmd
      return 1
    fi
  fi
  launch rabbitmq "$RABBIT_LOG_DIR/stdout.log" env "${RABBIT_ENV[@]}" "$RABBIT_BIN_DIR/rabbitmq-server"
  mark_owned rabbitmq
  if ! wait_ready rabbitmq rabbit_amqp_up ||
    ! timeout "$START_TIMEOUT" env "${RABBIT_ENV[@]}" "$RABBIT_BIN_DIR/rabbitmqctl" \
      -n "$RABBIT_NODE" -q await_startup >"$RABBIT_LOG_DIR/await_startup.log" 2>&1; then
    show_logs "$RABBIT_LOG_DIR/$RABBIT_NODE.log" "$RABBIT_LOG_DIR/stdout.log" "$RABBIT_LOG_DIR/await_startup.log"
    return 1
  fi
  if ! wait_ready rabbitmq rabbit_mgmt_up; then
    log "rabbitmq: the management API does not answer on 127.0.0.1:$RABBIT_MGMT_PORT"
    show_logs "$RABBIT_LOG_DIR/$RABBIT_NODE.log"
    return 1
  fi
  rabbit_users
}

rabbit_check_external() { :; }

rabbit_preflight() {
  if port_open "$RABBIT_DIST_PORT"; then
    log "rabbitmq: port $RABBIT_DIST_PORT (Erlang distribution) is already in use; free it or set TEST_RABBIT_DIST_PORT"
    return 1
  fi
  if port_open "$RABBIT_MGMT_PORT"; then
    log "rabbitmq: port $RABBIT_MGMT_PORT (management API) is already in use; free it or set TEST_RABBIT_MGMT_PORT"
    return 1
  fi
}

# ---------------------------------------------------------------------------
# Per-server dispatch

bins_for() {
  case "$1" in
    mysql) mysql_bins ;;
    redis) redis_bins ;;
    rabbitmq) rabbit_bins ;;
  esac
}

start_server() {
  case "$1" in
    mysql) mysql_start ;;
    redis) redis_start ;;
    rabbitmq) rabbit_start ;;
  esac
}

has_data() {
  case "$1" in
    mysql) mysql_has_data ;;
    redis) redis_has_data ;;
    rabbitmq) rabbit_has_data ;;
  esac
}

wipe_data() {
  case "$1" in
    mysql) mysql_wipe ;;
    redis) redis_wipe ;;
    rabbitmq) rabbit_wipe ;;
  esac
}

preflight() {
  case "$1" in
    rabbitmq) rabbit_preflight ;;
    *) return 0 ;;
  esac
}

check_external() {
  case "$1" in
    mysql) mysql_check_external ;;
    redis) redis_check_external ;;
    rabbitmq) rabbit_check_external ;;
  esac
}

# What every `up` redoes on a server it started earlier and reuses.
refresh_owned() {
  case "$1" in
    rabbitmq) rabbit_bins && rabbit_users ;;
    *) return 0 ;;
  esac
}

stop_server() {
  local name="$1" pid
  if pid="$(owned_pid "$name")"; then
    log "$name: stopping (pid $pid)"
    stop_pid_group "$name"
  else
    rm -f "$(pid_file "$name")"
  fi
  if [[ "$name" == rabbitmq ]] && owned_pid epmd >/dev/null; then
    stop_pid_group epmd
  fi
  unmark_owned "$name"
}

# ---------------------------------------------------------------------------
# Commands

env_lines() {
  printf "export TEST_MYSQL_URL='mysql://app:app@127.0.0.1:%s'\n" "$MYSQL_PORT"
  printf "export TEST_REDIS_URL='redis://127.0.0.1:%s'\n" "$REDIS_PORT"
  # The admin user: declares and deletes the tests' topologies. Local tests only.
  printf "export TEST_AMQP_URL='amqp://guest:guest@127.0.0.1:%s/%%2f'\n" "$AMQP_PORT"
  # Only a broker started here has the service users and the management API.
  if is_owned rabbitmq; then
    printf "export TEST_AMQP_ORDER_URL='amqp://order-service:order-service@127.0.0.1:%s/%%2f'\n" "$AMQP_PORT"
    printf "export TEST_AMQP_PRODUCT_URL='amqp://product-service:product-service@127.0.0.1:%s/%%2f'\n" "$AMQP_PORT"
    printf "export TEST_RABBITMQ_API_URL='http://guest:guest@127.0.0.1:%s/api'\n" "$RABBIT_MGMT_PORT"
  fi
}

up_one() {
  local name="$1" port pid started_at
  UP_STARTED=0
  port="$(server_port "$name")"
  if port_open "$port"; then
    if is_owned "$name" && pid="$(owned_pid "$name")"; then
      log "$name: already running on 127.0.0.1:$port (pid $pid, started by an earlier 'up')"
      refresh_owned "$name" || return 1
    else
      unmark_owned "$name"
      rm -f "$(pid_file "$name")"
      log "$name: something already answers on 127.0.0.1:$port; reusing it (it will not be stopped)"
      check_external "$name"
    fi
    return 0
  fi
  if pid="$(owned_pid "$name")"; then
    log "$name: pid $pid does not answer on port $port; restarting it"
    stop_pid_group "$name"
  fi
  rm -f "$(pid_file "$name")"
  unmark_owned "$name"

  if ! bins_for "$name"; then
    apt_install "$(server_package "$name")"
    bins_for "$name" || die "$name: still missing its programs after installing $(server_package "$name")"
  fi

  preflight "$name" || return 1
  started_at=$SECONDS
  log "$name: starting on 127.0.0.1:$port"
  if ! start_server "$name"; then
    stop_server "$name"
    if has_data "$name"; then
      log "$name: retrying once with a fresh data directory"
      wipe_data "$name"
      if ! start_server "$name"; then
        stop_server "$name"
        return 1
      fi
    else
      return 1
    fi
  fi
  UP_STARTED=1
  log "$name: ready after $((SECONDS - started_at))s"
}

cmd_up() {
  local name done_name started=()
  while (($#)); do
    case "$1" in
      --record)
        [[ $# -ge 2 ]] || die "--record needs a file"
        RECORD_FILE="$2"
        shift 2
        ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  mkdir -p "$INFRA_DIR" "$STATE_DIR"
  [[ -f "$INFRA_DIR/CACHEDIR.TAG" ]] ||
    printf 'Signature: 8a477f597d28d172789f06886806bc55\n# Test servers of infra.sh.\n' >"$INFRA_DIR/CACHEDIR.TAG"
  for name in "${SERVERS[@]}"; do
    if up_one "$name"; then
      if ((UP_STARTED)); then started+=("$name"); fi
    else
      log "$name: failed to start; stopping what this run started"
      for done_name in "${started[@]}"; do
        stop_server "$done_name"
      done
      exit 1
    fi
  done
  env_lines >"$INFRA_DIR/env.sh"
  log "all servers answer; environment written to $INFRA_DIR/env.sh:"
  sed 's/^/  /' "$INFRA_DIR/env.sh" >&2
}

cmd_down() {
  local i name names=("$@")
  if ((${#names[@]} == 0)); then
    if [[ -f "$OWNED_FILE" ]]; then
      mapfile -t names <"$OWNED_FILE"
    fi
  fi
  if ((${#names[@]} == 0)); then
    log "nothing started by infra.sh is running"
    return 0
  fi
  # Stop in reverse start order.
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do
    name="${names[i]}"
    server_port "$name" >/dev/null
    if is_owned "$name"; then
      stop_server "$name"
    else
      log "$name: not started by infra.sh; leaving it alone"
    fi
  done
  log "stopped"
}

cmd_status() {
  local name port pid state
  for name in "${SERVERS[@]}"; do
    port="$(server_port "$name")"
    if port_open "$port"; then
      state="answers"
    else
      state="down"
    fi
    if is_owned "$name" && pid="$(owned_pid "$name")"; then
      state+=" (started by infra.sh, pid $pid)"
    elif [[ "$state" == answers ]]; then
      state+=" (not started by infra.sh)"
    fi
    printf '%-9s 127.0.0.1:%-6s %s\n' "$name" "$port" "$state"
  done
}

cmd_clean() {
  cmd_down
  log "removing $INFRA_DIR"
  rm -rf "$INFRA_DIR"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    env) env_lines ;;
    status) cmd_status ;;
    clean) cmd_clean ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"

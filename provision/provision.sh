#!/usr/bin/env bash
# Turns a Debian or Ubuntu machine into the exercise's single "host" (MariaDB with the solution's grants, the
# ddlab agent with the solution's datadog.yaml, conf.d/ and checks.d/, the solution's app and the traffic
# generator) and, with --role backend or all, the lab's backend (ddlab-backend and its SMTP mail sink).
#
# One script for every machine that is not the local provider: the container images (docker/, built by
# `cargo xtask images`) and the Vagrant VM (Vagrantfile). Every command is idempotent.
#
#   provision.sh install [--role host|backend|all] --project DIR --binaries DIR [--wheels DIR]
#       OS packages from the machine's apt sources, the binaries, the Python virtualenvs (from the
#       hash-pinned requirement files; with --wheels, from that folder only, without an index).
#   provision.sh run [--role ...]       start the components and supervise them in the foreground
#   provision.sh health [--role ...]    check every component; exit status 0 when all answer
#   provision.sh service [--role ...]   install and start a systemd unit that runs `run` (the VM)
#
# `run` reads its settings from the environment (defaults in brackets):
#   DDLAB_SOLUTION [/solution]   the solution folder (read only)
#   DDLAB_DATA [/var/lib/ddlab]  MySQL data, the backend's database and keys, the mail, logs
#   DDLAB_BACKEND_URL [http://127.0.0.1:$DDLAB_PORT_BACKEND]  where the agent sends (host role)
#   DD_API_KEY                   the agent's key (host role; with --role all, read from the backend)
#   DDLAB_PUBLIC_URL             the backend's URL as users reach it, for links it answers with
#   DDLAB_TEST_MODE=1            start the backend with its movable test clock
#   DDLAB_WHEELS                 a folder of wheels for the solution's app requirements (no index)
#   DDLAB_PORT_<NAME>            the ports, as in crates/ddlab-stack/src/ports.rs
set -euo pipefail

HOME_DIR="${DDLAB_HOME:-/opt/ddlab}"
DATA="${DDLAB_DATA:-/var/lib/ddlab}"
SOLUTION="${DDLAB_SOLUTION:-/solution}"
ROLE="${DDLAB_ROLE:-all}"

PORT_BACKEND="${DDLAB_PORT_BACKEND:-8480}"
PORT_MYSQL="${DDLAB_PORT_MYSQL:-3306}"
PORT_SMTP="${DDLAB_PORT_SMTP:-2525}"
PORT_DOGSTATSD="${DDLAB_PORT_DOGSTATSD:-8125}"
PORT_APM="${DDLAB_PORT_APM:-8126}"
PORT_AGENT_IPC="${DDLAB_PORT_AGENT_IPC:-5001}"
PORT_APP="${DDLAB_PORT_APP:-5050}"

say() { printf 'provision: %s\n' "$*"; }
fail() {
  printf 'provision: error: %s\n' "$*" >&2
  # A failed start stops what it had started, in reverse order.
  if [ "${#STARTED[@]}" -gt 0 ]; then stop_all; fi
  exit 1
}

has_role() { [ "$ROLE" = all ] || [ "$ROLE" = "$1" ]; }

# The components `run` started, in order, and their pids.
declare -a STARTED=()
declare -A PIDS=()

# ---------------------------------------------------------------------------------------------- install

install_packages() {
  local packages=(ca-certificates python3 python3-venv procps)
  if has_role host; then
    packages+=(mariadb-server mariadb-client)
  fi
  local missing=()
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "OS packages: all present"
    return
  fi
  say "OS packages: installing ${missing[*]}"
  # Without an init system (an image build), package scripts must not try to start the server.
  local policy=""
  if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$policy" ] || rm -f "$policy"
  if has_role host && [ -d /run/systemd/system ]; then
    # The lab runs its own server in $DDLAB_DATA; the distribution's would hold port 3306.
    systemctl disable --now mariadb >/dev/null 2>&1 || true
  fi
  if [ -d /var/lib/apt/lists ] && [ ! -d /run/systemd/system ]; then
    # An image keeps no package lists.
    rm -rf /var/lib/apt/lists/*
  fi
}

# Copies a file unless source and target are the same file.
place() {
  local source="$1" target="$2"
  [ -e "$source" ] || fail "$source is missing"
  if [ -e "$target" ] && [ "$(readlink -f "$source")" = "$(readlink -f "$target")" ]; then
    return
  fi
  mkdir -p "$(dirname "$target")"
  cp -f "$source" "$target"
}

# venv_install DIR STAMP_NAME PIP_ARGS...: a virtualenv with the given pip install, skipped when the stamp
# records the same arguments and requirement texts.
venv_install() {
  local dir="$1" stamp="$1/$2"
  shift 2
  local wanted
  wanted="$(printf '%s\n' "$@"; for arg in "$@"; do [ -f "$arg" ] && cat "$arg"; done)"
  if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    say "virtualenv $dir: up to date"
    return
  fi
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  say "virtualenv $dir: pip install $*"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  printf '%s' "$wanted" >"$stamp"
}

pip_source_args() {
  local wheels="$1"
  if [ -n "$wheels" ]; then
    printf '%s\n' --no-index --find-links "$wheels"
  fi
}

cmd_install() {
  local project="" binaries="" wheels=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --project) project="$2"; shift 2 ;;
      --binaries) binaries="$2"; shift 2 ;;
      --wheels) wheels="$2"; shift 2 ;;
      *) fail "install: unknown argument $1" ;;
    esac
  done
  [ -n "$project" ] || fail "install needs --project DIR (a ddlab checkout, or the image's build context)"
  [ -n "$binaries" ] || fail "install needs --binaries DIR (where ddlab-agent and ddlab-backend were built)"
  install_packages
  local from=()
  mapfile -t from < <(pip_source_args "$wheels")

  mkdir -p "$HOME_DIR/bin"
  place "$project/provision/provision.sh" "$HOME_DIR/provision/provision.sh"
  place "$project/crates/ddlab-stack/sql/sample_schema.sql" "$HOME_DIR/crates/ddlab-stack/sql/sample_schema.sql"
  if has_role host; then
    place "$binaries/ddlab-agent" "$HOME_DIR/bin/ddlab-agent"
    place "$project/crates/ddlab-agent/python/requirements.txt" "$HOME_DIR/crates/ddlab-agent/python/requirements.txt"
    place "$project/crates/ddlab-stack/python/traffic.py" "$HOME_DIR/crates/ddlab-stack/python/traffic.py"
    # The check host's packages, exactly as pinned (no dependency resolution: see the file's header).
    venv_install "$HOME_DIR/venv" host.stamp "${from[@]}" --require-hashes --no-deps \
      -r "$HOME_DIR/crates/ddlab-agent/python/requirements.txt"
    # The reference app's requirements, so a solution that pins the same needs no install at start.
    if [ -f "$project/fixtures/solution/app/requirements.txt" ]; then
      place "$project/fixtures/solution/app/requirements.txt" "$HOME_DIR/app-requirements.txt"
      venv_install "$HOME_DIR/app-venv" app.stamp "${from[@]}" -r "$HOME_DIR/app-requirements.txt"
    fi
  fi
  if has_role backend; then
    place "$binaries/ddlab-backend" "$HOME_DIR/bin/ddlab-backend"
    place "$project/crates/ddlab-stack/python/clients.txt" "$HOME_DIR/crates/ddlab-stack/python/clients.txt"
    # The mail sink (aiosmtpd) and the official clients, pinned by hash.
    venv_install "$HOME_DIR/mail-venv" backend.stamp "${from[@]}" --require-hashes \
      -r "$HOME_DIR/crates/ddlab-stack/python/clients.txt"
  fi
  chmod 0755 "$HOME_DIR/bin/"* "$HOME_DIR/provision/provision.sh"
  say "installed the $ROLE role in $HOME_DIR"
}

# -------------------------------------------------------------------------------------------------- run

# start NAME COMMAND...: runs a component in the background with its output in $DATA/logs/NAME.log (which
# `follow_logs` copies to this script's output, the container's log). The recorded pid is the component's
# own: the command is executed directly, with no pipe or subshell in between.
start() {
  local name="$1"
  shift
  mkdir -p "$DATA/logs" "$DATA/run"
  "$@" >>"$DATA/logs/$name.log" 2>&1 &
  PIDS[$name]=$!
  STARTED+=("$name")
  echo "$!" >"$DATA/run/$name.pid"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready NAME CHECK...: polls CHECK for up to 120 s while the component runs.
wait_ready() {
  local name="$1"
  shift
  local deadline=$((SECONDS + 120))
  while ! "$@" >/dev/null 2>&1; do
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      tail -n 20 "$DATA/logs/$name.log" >&2 || true
      fail "$name exited during start; its log is $DATA/logs/$name.log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$DATA/logs/$name.log" >&2 || true
      fail "$name did not become ready within 120 s; its log is $DATA/logs/$name.log"
    fi
    sleep 0.2
  done
  say "$name: ready"
}

TAILER=""

# Copies every component's new log lines to this script's output, each file under a `==> file <==` header.
follow_logs() {
  local names=() name files=()
  if has_role host; then names+=(mysql agent app traffic); fi
  if has_role backend; then names+=(mail backend); fi
  mkdir -p "$DATA/logs"
  for name in "${names[@]}"; do
    files+=("$DATA/logs/$name.log")
    touch "$DATA/logs/$name.log"
  done
  tail -n 0 -F "${files[@]}" 2>/dev/null &
  TAILER=$!
}

stop_all() {
  local i name
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    name="${STARTED[$i]}"
    kill -TERM "${PIDS[$name]}" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "${PIDS[$name]}" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -KILL "${PIDS[$name]}" 2>/dev/null || true
    rm -f "$DATA/run/$name.pid"
    say "$name: stopped"
  done
  [ -z "$TAILER" ] || kill "$TAILER" 2>/dev/null || true
}

mysql_socket() { echo "$DATA/mysql/mysqld.sock"; }

mysql_root() {
  mariadb --no-defaults --socket="$(mysql_socket)" --user=root --batch "$@"
}

run_mysql() {
  local dir="$DATA/mysql"
  mkdir -p "$dir/data" "$dir/tmp"
  if [ ! -d "$dir/data/mysql" ]; then
    say "mysql: initialising $dir/data"
    mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
      --skip-test-db --user=root >"$dir/install.log" 2>&1 || {
      cat "$dir/install.log" >&2
      fail "initialising the MySQL data folder $dir/data failed"
    }
  fi
  rm -f "$(mysql_socket)"
  # As in the local provider: loopback only, binary log and performance_schema for the check's metrics.
  start mysql mariadbd --no-defaults --datadir="$dir/data" --socket="$(mysql_socket)" --port="$PORT_MYSQL" \
    --bind-address=127.0.0.1 --tmpdir="$dir/tmp" --pid-file="$dir/mysqld.pid" --log-bin="$dir/binlog" \
    --performance-schema=ON --user=root
  wait_ready mysql mariadb-admin --no-defaults --socket="$(mysql_socket)" --user=root ping
  local grants="$SOLUTION/mysql/grants.sql"
  [ -f "$grants" ] || fail "the solution has no mysql/grants.sql ($grants)"
  mysql_root <"$grants" || fail "applying $grants failed (the line is in the message above)"
  say "mysql: applied $grants"
  mysql_root <"$HOME_DIR/crates/ddlab-stack/sql/sample_schema.sql" || fail "creating the sample schema failed"
}

run_mail() {
  mkdir -p "$DATA/mail"
  start mail "$HOME_DIR/mail-venv/bin/python" -m aiosmtpd --nosetuid --listen "127.0.0.1:$PORT_SMTP" \
    --class aiosmtpd.handlers.Mailbox "$DATA/mail"
  wait_ready mail tcp_open "$PORT_SMTP"
}

# The backend listens and has written its keys (the agent of the `all` role reads them).
backend_ready() { tcp_open "$PORT_BACKEND" && [ -s "$DATA/backend/keys.json" ]; }

run_backend() {
  local args=(--state-dir "$DATA/backend" --listen "${DDLAB_BACKEND_LISTEN:-0.0.0.0:$PORT_BACKEND}"
    --smtp "127.0.0.1:$PORT_SMTP")
  [ -z "${DDLAB_PUBLIC_URL:-}" ] || args+=(--public-url "$DDLAB_PUBLIC_URL")
  [ "${DDLAB_TEST_MODE:-0}" != 1 ] || args+=(--test-mode)
  start backend env -u DDLAB_API_KEY -u DDLAB_APP_KEY "$HOME_DIR/bin/ddlab-backend" "${args[@]}"
  wait_ready backend backend_ready
}

# Stages the solution's agent files as the agent's config root, as the local provider does.
stage_agent() {
  local root="$DATA/agent" entry
  mkdir -p "$root"
  for entry in datadog.yaml conf.d checks.d; do
    rm -rf "${root:?}/$entry"
    [ ! -e "$SOLUTION/$entry" ] || cp -R "$SOLUTION/$entry" "$root/$entry"
  done
  [ -f "$root/datadog.yaml" ] || fail "the solution has no datadog.yaml ($SOLUTION/datadog.yaml)"
}

# The agent's ports, as environment overrides of its datadog.yaml.
AGENT_PORTS=(DD_CMD_PORT="$PORT_AGENT_IPC" DD_DOGSTATSD_PORT="$PORT_DOGSTATSD" DD_APM_RECEIVER_PORT="$PORT_APM")

run_agent() {
  stage_agent
  local key="${DD_API_KEY:-}"
  if [ -z "$key" ] && [ -f "$DATA/backend/keys.json" ]; then
    key="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_key"])' "$DATA/backend/keys.json")"
  fi
  [ -n "$key" ] || fail "the agent needs DD_API_KEY (the backend's API key)"
  # DogStatsD and the trace receiver accept traffic from outside the machine: the container's published
  # ports and the VM's forwarded ones arrive on its network interface.
  # `env` execs the agent, so the recorded pid is the agent's own.
  start agent env "${AGENT_PORTS[@]}" DD_API_KEY="$key" DD_DD_URL="${DDLAB_BACKEND_URL:-http://127.0.0.1:$PORT_BACKEND}" \
    DD_DOGSTATSD_NON_LOCAL_TRAFFIC=true DD_APM_NON_LOCAL_TRAFFIC=true \
    "$HOME_DIR/bin/ddlab-agent" --cfgpath "$DATA/agent" run --python "$HOME_DIR/venv/bin/python"
  wait_ready agent tcp_open "$PORT_AGENT_IPC"
}

run_app() {
  local requirements="$SOLUTION/app/requirements.txt" launcher="$SOLUTION/app/run"
  if [ ! -f "$requirements" ] || [ ! -f "$launcher" ]; then
    say "app: not started — the solution has no app/requirements.txt and app/run"
    return 1
  fi
  local venv="$HOME_DIR/app-venv"
  if ! cmp -s "$requirements" "$HOME_DIR/app-requirements.txt" 2>/dev/null; then
    # The candidate's requirements differ from the image's: a virtualenv of their own in the data folder.
    venv="$DATA/app-venv"
    local from=()
    mapfile -t from < <(pip_source_args "${DDLAB_WHEELS:-}")
    venv_install "$venv" app.stamp "${from[@]}" -r "$requirements"
  fi
  start app env PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" DD_TRACE_AGENT_URL="http://127.0.0.1:$PORT_APM" \
    DD_AGENT_HOST=127.0.0.1 DD_DOGSTATSD_PORT="$PORT_DOGSTATSD" bash "$launcher"
  wait_ready app tcp_open "$PORT_APP"
}

run_traffic() {
  start traffic "$HOME_DIR/venv/bin/python" "$HOME_DIR/crates/ddlab-stack/python/traffic.py" \
    "http://127.0.0.1:$PORT_APP" "$(command -v mariadb)" "$(mysql_socket)"
}

cmd_run() {
  if has_role host; then
    [ -d "$SOLUTION" ] || fail "the solution folder $SOLUTION does not exist (set DDLAB_SOLUTION)"
  fi
  mkdir -p "$DATA/run"
  chmod 0700 "$DATA"
  rm -f "$DATA/run/"*.pid "$DATA/run/"*.exited
  trap 'stop_all; exit 0' TERM INT
  follow_logs
  if has_role host; then run_mysql; fi
  if has_role backend; then
    run_mail
    run_backend
  fi
  if has_role host; then
    run_agent
    if run_app; then run_traffic; fi
  fi
  say "ready: ${STARTED[*]}"
  # Supervise: a component that exits is reported (and `health` fails) while the others go on.
  local name alive
  while true; do
    wait -n || true
    alive=0
    for name in "${STARTED[@]}"; do
      if kill -0 "${PIDS[$name]}" 2>/dev/null; then
        alive=1
      elif [ -f "$DATA/run/$name.pid" ]; then
        say "$name: exited on its own; its log is $DATA/logs/$name.log"
        mv -f "$DATA/run/$name.pid" "$DATA/run/$name.exited"
      fi
    done
    [ "$alive" = 1 ] || fail "every component has exited"
  done
}

# ----------------------------------------------------------------------------------------------- health

http_answers() {
  python3 - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=3).read()
except urllib.error.HTTPError as error:
    sys.exit(0 if error.code < 500 else 1)
except OSError:
    sys.exit(1)
PY
}

cmd_health() {
  local failed=0
  check() {
    local name="$1"
    shift
    if "$@" >/dev/null 2>&1; then
      echo "$name: ok"
    else
      echo "$name: FAILED"
      failed=1
    fi
  }
  if has_role host; then
    check mysql mariadb-admin --no-defaults --socket="$(mysql_socket)" --user=root ping
  fi
  if has_role backend; then
    check mail tcp_open "$PORT_SMTP"
    check backend http_answers "http://127.0.0.1:$PORT_BACKEND/api/v1/validate"
  fi
  if has_role host; then
    check agent env "${AGENT_PORTS[@]}" "$HOME_DIR/bin/ddlab-agent" --cfgpath "$DATA/agent" health
    if [ -f "$SOLUTION/app/run" ]; then
      check app http_answers "http://127.0.0.1:$PORT_APP/"
    fi
  fi
  return "$failed"
}

# ---------------------------------------------------------------------------------------------- service

cmd_service() {
  [ -d /run/systemd/system ] || fail "service needs systemd; in a container, run \`provision.sh run\` instead"
  cat >/etc/systemd/system/ddlab.service <<EOF
[Unit]
Description=ddlab: the exercise's host and backend (provision/provision.sh run)
After=network-online.target
Wants=network-online.target

[Service]
Environment=DDLAB_ROLE=$ROLE
Environment=DDLAB_SOLUTION=$SOLUTION
Environment=DDLAB_DATA=$DATA
Environment=DDLAB_HOME=$HOME_DIR
Environment=DDLAB_PUBLIC_URL=${DDLAB_PUBLIC_URL:-http://127.0.0.1:$PORT_BACKEND}
ExecStart=$HOME_DIR/provision/provision.sh run
Restart=on-failure
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
EOF
  systemctl daemon-reload
  systemctl enable ddlab.service >/dev/null
  systemctl restart ddlab.service
  local deadline=$((SECONDS + 300))
  until cmd_health >/dev/null; do
    [ $SECONDS -lt $deadline ] || {
      cmd_health || true
      fail "the lab did not become healthy within 300 s; see journalctl -u ddlab"
    }
    sleep 1
  done
  cmd_health
  say "the ddlab service is running; keys: $DATA/backend/keys.json"
}

# ------------------------------------------------------------------------------------------------- main

main() {
  [ $# -gt 0 ] || fail "usage: provision.sh install|run|health|service [--role host|backend|all] ..."
  local command="$1"
  shift
  local rest=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --role)
        ROLE="$2"
        shift 2
        ;;
      *)
        rest+=("$1")
        shift
        ;;
    esac
  done
  case "$ROLE" in host | backend | all) ;; *) fail "--role must be host, backend or all, not $ROLE" ;; esac
  case "$command" in
    install) cmd_install "${rest[@]}" ;;
    run) cmd_run ;;
    health) cmd_health ;;
    service) cmd_service ;;
    *) fail "unknown command $command (install, run, health, service)" ;;
  esac
}

main "$@"

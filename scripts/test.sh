#!/usr/bin/env bash
# The one test command of NEAT Studio (the README and .ci/run call it).
#
#   bash scripts/test.sh [PYTEST ARGS...]
#
# 1. installs the Python dependencies (scripts/install.sh --dev) into the active environment;
# 2. installs the Debian packages the tests use when they are missing and apt-get exists
#    (chromium, redis-server, postgresql);
# 3. starts a throwaway Redis and a throwaway PostgreSQL cluster on free loopback ports and
#    exports NEAT_TEST_REDIS_URL / NEAT_TEST_PG_URL (tests that need them skip when unset, or
#    fail when CI=true: in CI a missing service or browser fails the run);
#    both are stopped and deleted on exit;
# 4. runs `ruff check .` and `python -m pytest tests` (extra arguments go to pytest; if they
#    name a test file or folder, they replace the default `tests`).
# Exits non-zero when ruff or pytest fails, and when pytest collects no tests at all.
#
# Environment knobs:
#   CI=true                    a missing Redis, PostgreSQL, Chromium or Playwright fails the tests
#                              that need them instead of skipping them (CI services set CI=true)
#   NEAT_TEST_SKIP_INSTALL=1   skip step 1 and 2 (quick re-runs on a prepared machine)
#   NEAT_TEST_REDIS_URL / NEAT_TEST_PG_URL already set: used as they are, nothing is started.
set -euo pipefail
export PYTHONUNBUFFERED=1

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# In CI the tests that miss a service or the browser fail (tests/needs.py); locally they skip.
case "${CI:-}" in
    true | TRUE | True | 1 | yes) skip_word="fail (CI=true)" ;;
    *) skip_word="skip" ;;
esac

log() { printf '==> %s\n' "$*"; }
warn() { printf '\nWARNING: %s\n\n' "$*" >&2; }

if command -v python >/dev/null 2>&1; then py=python; else py=python3; fi

# ---------------------------------------------------------------------------------------------
# 1. Python dependencies
if [[ "${NEAT_TEST_SKIP_INSTALL:-0}" != 1 ]]; then
    bash scripts/install.sh --dev
fi

# ---------------------------------------------------------------------------------------------
# 2. Debian packages (browser for the UI tests, Redis and PostgreSQL for the scale-out tests)

# Newest PostgreSQL server binaries: Debian keeps them in /usr/lib/postgresql/<version>/bin.
pg_bindir() {
    local dir exe
    while read -r dir; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then echo "$dir"; return 0; fi
    done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r)
    exe=$(command -v initdb 2>/dev/null || true)
    if [[ -n "$exe" ]]; then
        dir=$(dirname "$(readlink -f "$exe")")
        if [[ -x "$dir/pg_ctl" ]]; then echo "$dir"; return 0; fi
    fi
    return 1
}

# Run a command as root: directly when we are root, else through sudo (never prompting when
# there is no terminal to answer on).
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [[ -t 0 ]]; then sudo "$@"; else sudo -n "$@"; fi
    else
        return 1
    fi
}

install_debian_packages() {
    local missing=() aptlog
    [[ -x /usr/bin/chromium ]] || missing+=(chromium fonts-liberation)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    pg_bindir >/dev/null || missing+=(postgresql)
    [[ ${#missing[@]} -gt 0 ]] || return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        warn "missing ${missing[*]} and no apt-get here: install them yourself; the tests that need them will $skip_word."
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    aptlog=$(mktemp "${TMPDIR:-/tmp}/neat-apt.XXXXXX")
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$aptlog" 2>&1 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >>"$aptlog" 2>&1; then
        rm -f "$aptlog"
    else
        tail -n 20 "$aptlog" >&2 || true
        rm -f "$aptlog"
        warn "could not install ${missing[*]} (are you root or allowed to sudo?); the tests that need them will $skip_word."
    fi
}

if [[ "${NEAT_TEST_SKIP_INSTALL:-0}" != 1 ]]; then
    install_debian_packages
fi

# ---------------------------------------------------------------------------------------------
# 3. Throwaway Redis and PostgreSQL

workdir=$(mktemp -d "${TMPDIR:-/tmp}/neat-test.XXXXXX")
redis_pidfile="$workdir/redis.pid"
pg_data=""
pg_bin=""
run_as_pg=()

cleanup() {
    local pid i
    if [[ -s "$redis_pidfile" ]]; then
        pid=$(cat "$redis_pidfile")
        kill "$pid" 2>/dev/null || true
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    if [[ -n "$pg_data" && -f "$pg_data/postmaster.pid" ]]; then
        (cd "$workdir" && "${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w -t 30 stop) \
            >/dev/null 2>&1 ||
            (cd "$workdir" && "${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop) \
                >/dev/null 2>&1 || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_redis() {
    local port url i
    if ! command -v redis-server >/dev/null 2>&1; then
        warn "redis-server not found: NEAT_TEST_REDIS_URL stays unset and the Redis tests $skip_word."
        return 0
    fi
    port=$(free_port)
    if ! redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize yes --pidfile "$redis_pidfile" --logfile "$workdir/redis.log" \
        --dir "$workdir"; then
        warn "redis-server did not start: NEAT_TEST_REDIS_URL stays unset and the Redis tests $skip_word."
        return 0
    fi
    url="redis://127.0.0.1:$port/0"
    for i in $(seq 100); do
        if "$py" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=1).ping()' \
            "$url" >/dev/null 2>&1; then
            export NEAT_TEST_REDIS_URL="$url"
            log "redis:      $url"
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$workdir/redis.log" >&2 || true
    warn "redis-server did not answer PING: NEAT_TEST_REDIS_URL stays unset and the Redis tests $skip_word."
}

start_postgres() {
    local root="$workdir/pg" port attempt
    if ! pg_bin=$(pg_bindir); then
        warn "PostgreSQL server binaries (initdb, pg_ctl) not found: NEAT_TEST_PG_URL stays unset and the PostgreSQL tests $skip_word."
        return 0
    fi
    mkdir -p "$root"
    if [[ "$(id -u)" == 0 ]]; then
        # The server refuses to run as root: the cluster belongs to the `postgres` user.
        if ! id postgres >/dev/null 2>&1; then
            warn "running as root and there is no 'postgres' user: NEAT_TEST_PG_URL stays unset."
            return 0
        fi
        if ! command -v runuser >/dev/null 2>&1; then
            warn "running as root and runuser (util-linux) is missing: NEAT_TEST_PG_URL stays unset."
            return 0
        fi
        run_as_pg=(runuser -u postgres --)
        chmod 755 "$workdir"
        chown postgres: "$root"
    fi
    if ! (cd "$root" && "${run_as_pg[@]}" "$pg_bin/initdb" -D "$root/data" -U neat -A trust \
        -E UTF8 --locale=C --no-sync) >"$workdir/initdb.log" 2>&1; then
        tail -n 20 "$workdir/initdb.log" >&2 || true
        warn "initdb failed: NEAT_TEST_PG_URL stays unset and the PostgreSQL tests $skip_word."
        return 0
    fi
    pg_data="$root/data"
    # Loopback only, socket in our temp dir, and no durability: this cluster is thrown away.
    cat >>"$pg_data/postgresql.conf" <<CONF

# scripts/test.sh: throwaway test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$root'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    # The port is passed on the command line so that a port taken in the meantime can be retried.
    for attempt in 1 2 3; do
        port=$(free_port)
        if (cd "$root" && "${run_as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$root/server.log" \
            -o "-p $port" -w -t 60 start) >/dev/null 2>&1; then
            if "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U neat neat_test >>"$workdir/initdb.log" 2>&1; then
                export NEAT_TEST_PG_URL="postgresql+psycopg://neat@127.0.0.1:$port/neat_test"
                log "postgresql: $NEAT_TEST_PG_URL"
                return 0
            fi
            tail -n 5 "$workdir/initdb.log" >&2 || true
            warn "createdb failed: NEAT_TEST_PG_URL stays unset and the PostgreSQL tests $skip_word."
            return 0
        fi
    done
    tail -n 20 "$root/server.log" >&2 || true
    warn "PostgreSQL did not start: NEAT_TEST_PG_URL stays unset and the PostgreSQL tests $skip_word."
}

if [[ -n "${NEAT_TEST_REDIS_URL:-}" ]]; then
    log "redis:      $NEAT_TEST_REDIS_URL (given)"
else
    start_redis
fi
if [[ -n "${NEAT_TEST_PG_URL:-}" ]]; then
    log "postgresql: $NEAT_TEST_PG_URL (given)"
else
    start_postgres
fi
[[ -x /usr/bin/chromium ]] || warn "/usr/bin/chromium not found: the browser tests $skip_word."

# ---------------------------------------------------------------------------------------------
# 4. Lint and tests

failed=()

log "ruff check ."
if ! "$py" -m ruff check .; then
    failed+=("ruff")
fi

# Arguments that name an existing path (tests/neat, tests/x.py::test_y) replace the default `tests`.
targets=(tests)
for arg in "$@"; do
    if [[ "$arg" != -* && -e "${arg%%::*}" ]]; then targets=(); break; fi
done

log "python -m pytest $(printf '%s ' "${targets[@]}" "$@")"
set +e
"$py" -m pytest "${targets[@]}" "$@"
pytest_rc=$?
set -e
if [[ $pytest_rc == 5 ]]; then
    warn "pytest collected no tests (exit code 5): check the paths and -k/-m filters. Counted as a failure."
    failed+=("pytest (no tests collected)")
elif [[ $pytest_rc != 0 ]]; then
    failed+=("pytest (exit code $pytest_rc)")
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    printf '\n==> FAILED: %s\n' "${failed[*]}" >&2
    if [[ $pytest_rc != 0 ]]; then exit "$pytest_rc"; else exit 1; fi
fi
log "all checks passed"

# Throwaway PostgreSQL cluster for tests and benchmarks. Source this file, then:
#   pg_start   starts a cluster on a free port in a temp dir and exports CS_TEST_POSTGRES_URL
#   pg_stop    stops it and removes the dir (call it from a trap)
#   pg_pause DIR / pg_resume DIR PORT   stop a cluster (fast shutdown) and start it again
# Or run it as a command (the fault tests do): `postgres.sh start` prints "DIR PORT";
# `postgres.sh pause DIR`, `postgres.sh resume DIR PORT`, `postgres.sh stop DIR`.
# PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user.

pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$dir" ] && command -v pg_ctl >/dev/null 2>&1; then
        dir=$(dirname "$(command -v pg_ctl)")
    fi
    echo "$dir"
}

pg_ensure_installed() {
    if [ -n "$(pg_bindir)" ]; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing PostgreSQL (apt)"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    else
        echo "PostgreSQL server binaries not found. Install them (Debian: apt-get install postgresql) and run again." >&2
        return 1
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    pg_ensure_installed || return 1
    local bindir
    bindir=$(pg_bindir)
    PG_TEST_DIR=$(mktemp -d /tmp/cs-pg.XXXXXX)
    PG_TEST_PORT=$(free_port)
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$PG_TEST_DIR"
    fi
    pg_as_owner "$bindir/initdb" -D "$PG_TEST_DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
    pg_resume "$PG_TEST_DIR" "$PG_TEST_PORT"
    export PG_TEST_DIR PG_TEST_PORT
    export CS_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_TEST_PORT/postgres"
    echo "== PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_TEST_PORT ($PG_TEST_DIR)"
}

# Tests run without durability (no fsync, asynchronous commit): a crash of the throwaway
# cluster loses nothing anyone needs, and the suite runs faster. PG_DURABLE=1 starts it as
# production runs (fsync, synchronous commit, full-page writes), for benchmarks.
pg_resume() {
    local durability="-F -c synchronous_commit=off -c full_page_writes=off"
    if [ "${PG_DURABLE:-0}" = 1 ]; then
        durability="-c synchronous_commit=on"
    fi
    pg_as_owner "$(pg_bindir)/pg_ctl" -D "$1/data" -l "$1/log" -w \
        -o "-p $2 -k $1 -c listen_addresses=127.0.0.1 -c max_connections=400 $durability" \
        start >/dev/null
}

pg_pause() {
    pg_as_owner "$(pg_bindir)/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
}

pg_stop() {
    if [ -n "${PG_TEST_DIR:-}" ] && [ -d "$PG_TEST_DIR/data" ]; then
        pg_as_owner "$(pg_bindir)/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PG_TEST_DIR"
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        start) pg_start >&2 && echo "$PG_TEST_DIR $PG_TEST_PORT" ;;
        pause) pg_pause "$2" ;;
        resume) pg_resume "$2" "$3" ;;
        stop) PG_TEST_DIR="$2" pg_stop ;;
        *) echo "usage: $0 start | pause DIR | resume DIR PORT | stop DIR" >&2; exit 2 ;;
    esac
fi

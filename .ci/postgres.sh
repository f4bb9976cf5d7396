#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and benchmarks: Debian's package, its own data
# directory in a new temporary folder, listening on a free loopback port (and a Unix socket in that
# folder), trust authentication for the superuser `chronorec`, nothing else on the machine touched.
#
#   eval "$(bash .ci/postgres.sh start)"   # exports CHRONOREC_TEST_POSTGRES_URL and
#                                          # CHRONOREC_TEST_POSTGRES_DIR
#   bash .ci/postgres.sh stop [DIR]        # stops it and removes DIR (default:
#                                          # $CHRONOREC_TEST_POSTGRES_DIR)
#
# `start --durable` keeps PostgreSQL's fsync on (benchmarks); by default it is off, since a test
# server's data is thrown away anyway and every CREATE DATABASE would otherwise wait for the disk.
# Without the binaries, `start` installs the `postgresql` package with apt-get.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

bin_dir() {  # the newest installed server's programs, or nothing
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_installed() {
    if [ -z "$(bin_dir)" ]; then
        log "installing Debian's postgresql package"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
}

# initdb and postgres refuse to run as root: as root, run them as the package's `postgres` user.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local fsync=off
    [ "${1:-}" = "--durable" ] && fsync=on
    ensure_installed
    local bin dir port
    bin="$(bin_dir)"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/chronorec-postgres.XXXXXX")"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    port="$(free_port)"
    as_owner "$bin/initdb" -D "$dir/data" -U chronorec --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c fsync=$fsync \
         -c synchronous_commit=$fsync -c full_page_writes=$fsync" >&2 \
        || { cat "$dir/server.log" >&2; exit 1; }
    log "PostgreSQL on 127.0.0.1:$port, data in $dir"
    echo "export CHRONOREC_TEST_POSTGRES_URL='postgresql://chronorec@127.0.0.1:$port/postgres'"
    echo "export CHRONOREC_TEST_POSTGRES_DIR='$dir'"
}

stop() {
    local dir="${1:-${CHRONOREC_TEST_POSTGRES_DIR:-}}"
    if [ -z "$dir" ] || [ ! -d "$dir/data" ]; then
        log "no server folder given (pass it or set CHRONOREC_TEST_POSTGRES_DIR)"
        exit 1
    fi
    as_owner "$(bin_dir)/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) echo "usage: $0 start [--durable] | stop [DIR]" >&2; exit 2 ;;
esac

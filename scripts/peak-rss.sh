#!/usr/bin/env bash
# Peak RSS of the daemon while 8 clients (half asking for gzip) scrape /metrics at once, on a
# throwaway cluster of the newest PostgreSQL in /usr/lib/postgresql with DATABASES databases of
# TABLES tables each (each with a primary key and one more index):
#
#   scripts/peak-rss.sh [databases] [tables] [rounds]      (default: 20 200 3)
#
# Runs target/debug/pgexporter, or the one in $PGEXPORTER_BIN_DIR. Prints the samples of one
# answer, its size, and the daemon's VmHWM (peak RSS) after that scrape and after each round.
set -euo pipefail
databases=${1:-20}
tables=${2:-200}
rounds=${3:-3}
clients=8
bin_dir=${PGEXPORTER_BIN_DIR:-$PWD/target/debug}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /tmp/peak-rss.XXXXXX)
chmod 755 "$work"
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
daemon=
cleanup() {
    [[ -n $daemon ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/pg" && [[ $(id -u) == 0 ]] && chown postgres "$work" "$work/pg"
as_postgres "$pg_bin/initdb" -A trust -U postgres -D "$work/pg" >/dev/null
pg_port=$(free_port)
as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w -o \
    "-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c autovacuum=off -c max_connections=$((2 * databases + 50))" \
    start >/dev/null
psql() { as_postgres "$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE bench_template"
psql -d bench_template -c "DO \$\$ BEGIN FOR i IN 1..$tables LOOP
  EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, owner int NOT NULL, note text)', i);
  EXECUTE format('INSERT INTO t%s SELECT g, g %% 97, md5(g::text) FROM generate_series(1, 10) AS g', i);
  EXECUTE format('CREATE INDEX t%s_owner ON t%s (owner)', i, i);
END LOOP; END \$\$"
for number in $(seq 1 "$databases"); do
    psql -d postgres -c "CREATE DATABASE app$number TEMPLATE bench_template"
done
psql -d postgres -c "DROP DATABASE bench_template"

metrics_port=$(free_port)
cat > "$work/pgexporter.conf" <<CONF
[pgexporter]
host = 127.0.0.1
metrics = $metrics_port
unix_socket_dir = $work
log_level = error

[primary]
host = 127.0.0.1
port = $pg_port
user = postgres
CONF
: > "$work/pgexporter_users.conf"
HOME=$work "$bin_dir/pgexporter" -c "$work/pgexporter.conf" -u "$work/pgexporter_users.conf" \
    >"$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$metrics_port/" && break
    sleep 0.1
done
hwm() { awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$daemon/status"; }
curl -s -o "$work/body" "http://127.0.0.1:$metrics_port/metrics"
echo "one answer: $(grep -vc '^#' "$work/body") samples, $(stat -c %s "$work/body") bytes; VmHWM $(hwm)"
for round in $(seq 1 "$rounds"); do
    for client in $(seq 1 "$clients"); do
        encoding=()
        (( client % 2 == 0 )) && encoding=(-H 'Accept-Encoding: gzip')
        curl -s -o /dev/null "${encoding[@]}" "http://127.0.0.1:$metrics_port/metrics" &
    done
    wait $(jobs -p | grep -v "^$daemon\$")
    echo "round $round: $clients concurrent clients (half asking for gzip); VmHWM $(hwm)"
done

#!/usr/bin/env bash
# Compares this exporter with the Go prometheus-postgres-exporter (Debian package
# `prometheus-postgres-exporter`) on the same throwaway PostgreSQL 15, one after the other in
# alternating rounds, and prints per exporter the scrape p50/p90, samples, PostgreSQL and
# exporter CPU per scrape, connections held, 8-client throughput and RSS:
#
#   scripts/bench-peers.sh [realistic|databases|servers] [rounds]
#
# realistic (default): 4 databases of 40 tables; databases: 100 databases of 100 tables;
# servers: 20 clusters. The release binaries are built once and copied to
# target/bench-peers/, which the benchmark runs them from.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x /usr/bin/prometheus-postgres-exporter ]]; then
    echo "the Go exporter is missing: install the Debian package prometheus-postgres-exporter" >&2
    exit 1
fi
cargo build -j2 --release --bins -p pgexporter
bin_dir=target/bench-peers
mkdir -p "$bin_dir"
for binary in pgexporter pgexporter-cli pgexporter-admin pgexporter-config; do
    cp "target/release/$binary" "$bin_dir/$binary"
done
cargo build -j2 -p pgexporter-tests --example bench-peers
PGEXPORTER_BIN_DIR="$PWD/$bin_dir" cargo run -j2 -q -p pgexporter-tests --example bench-peers -- "$@"

#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster with the monitoring role `pgexporter`, writes a vault and a
# configuration for it, runs the exporter and prints where to scrape. Everything is removed when
# Enter is pressed. Needs the PostgreSQL server binaries (Debian package `postgresql`) and `openssl`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -j2 --bins
cargo run -q -j2 -p pgexporter-tests --example quickstart

#!/usr/bin/env bash
# The run command: installs what a fresh Debian machine with Rust lacks (the PostgreSQL server
# and openssl; Debian packages need root), builds the binaries, starts a throwaway PostgreSQL
# cluster with the monitoring role `pgexporter`, writes a vault and a configuration for it, runs
# the exporter and prints where to scrape. Everything is removed when Enter is pressed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

want_runtime_tools
install_missing_packages
step "building the binaries (a few minutes the first time)"
cargo build -j2 --bins
step "building the quick start and starting a throwaway cluster and the exporter"
cargo run -j2 -p pgexporter-tests --example quickstart

#!/usr/bin/env bash
# Builds the binaries that the end-to-end tests run, then runs every test of the workspace.
# The end-to-end tests start throwaway PostgreSQL clusters: they need the PostgreSQL server
# binaries (Debian package `postgresql`), `openssl`, and `promtool` (package `prometheus`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -j2 --bins
cargo test -j2 --workspace

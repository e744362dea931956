#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster with the monitoring role `pgexporter` and prints how to
# connect to it. The cluster lives until Enter is pressed (or the script is interrupted) and is
# then removed. Needs the PostgreSQL server binaries (Debian package `postgresql`) and `openssl`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo run -q -j2 -p pgexporter-tests --example throwaway-cluster

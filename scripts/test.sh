#!/usr/bin/env bash
# Builds the binaries that the end-to-end tests run, then runs every test of the workspace, then
# runs the end-to-end tests again against the binaries of every other runtime.
# The end-to-end tests start throwaway PostgreSQL clusters: they need the PostgreSQL server
# binaries (Debian package `postgresql`), `openssl`, and `prometheus` with `promtool` (package
# `prometheus`). The version matrix needs PostgreSQL 13, 14, 16, 17 and 18 as well: the first
# step installs them into a cache once (it needs `npm`).
set -euo pipefail
cd "$(dirname "$0")/.."

# The extensions the end-to-end tests install, from Debian, for the PostgreSQL major the tests
# run (the highest under /usr/lib/postgresql unless PG_BIN_DIR says otherwise).
EXTENSION_PACKAGES=(pg-stat-kcache pg-qualstats pg-wait-sampling postgis-3)
if [[ -n "${PG_BIN_DIR:-}" ]]; then
    pg_major=$(basename "$(dirname "$PG_BIN_DIR")")
else
    pg_major=$(ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1 || true)
fi
missing_packages=()
for package in "${EXTENSION_PACKAGES[@]}"; do
    name="postgresql-$pg_major-$package"
    if [[ -n "$pg_major" ]] && ! dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed'; then
        missing_packages+=("$name")
    fi
done
if ((${#missing_packages[@]} > 0)); then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "missing Debian packages for the extension tests: ${missing_packages[*]}; install them (apt-get install ${missing_packages[*]}) or run as root" >&2
        exit 1
    fi
    echo "installing the extensions the tests use: ${missing_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing_packages[@]}"
fi

# The runtimes besides the default (tokio) whose binaries the end-to-end tests run against.
OTHER_RUNTIMES=(smol fork)
# The end-to-end test targets that run the binaries.
E2E_TESTS=(exporter extensions management cli fork_processes history deadlines bridge probe)

bash scripts/install-postgresql-matrix.sh
cargo build -j2 --bins
cargo test -j2 --workspace

# A runtime's build may pull in no other runtime's executor: smol's has no tokio, the fork
# build no async runtime at all.
for runtime in "${OTHER_RUNTIMES[@]}"; do
    case "$runtime" in
        smol) forbidden='^tokio ' ;;
        fork) forbidden='^(tokio|smol|async-io|async-executor) ' ;;
    esac
    tree=$(cargo tree -p pgexporter --no-default-features --features "runtime-$runtime" -e normal --prefix none)
    if grep -E "$forbidden" <<<"$tree"; then
        echo "the runtime-$runtime build depends on another runtime's executor" >&2
        exit 1
    fi
done

e2e_args=()
for test in "${E2E_TESTS[@]}"; do
    if [[ -f "tests/tests/$test.rs" ]]; then
        e2e_args+=(--test "$test")
    fi
done
scripts/build-runtimes.sh "${OTHER_RUNTIMES[@]}"
for runtime in "${OTHER_RUNTIMES[@]}"; do
    echo "end-to-end tests against the $runtime runtime"
    PGEXPORTER_BIN_DIR="$PWD/target/runtimes/$runtime" \
        cargo test -j2 -p pgexporter-tests "${e2e_args[@]}"
done

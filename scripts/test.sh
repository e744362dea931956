#!/usr/bin/env bash
# The test command: installs what a fresh Debian machine with Rust lacks for the tests, builds
# the binaries, runs every test of the workspace, then runs the end-to-end tests again against
# the binaries of every other runtime.
#
# It installs, when missing (Debian packages need root; as another user it stops and prints the
# apt-get command): the PostgreSQL server (`postgresql`), `openssl`, Prometheus and promtool
# (`prometheus`), `prometheus-node-exporter`, `npm` with the version matrix's PostgreSQL 13, 14, 16, 17 and 18
# (scripts/install-postgresql-matrix.sh, into a cache outside the checkout), the extensions the
# extension tests create, `systemd` (systemd-socket-activate and systemd-analyze), `man-db`,
# `dpkg-dev`, `chromium` (the console's browser test) and `cargo-deb` (`cargo install`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

started=$SECONDS
# Prints the time a step took, after it.
timed() {
    local begin=$SECONDS
    "$@"
    echo "==> took $((SECONDS - begin)) s: $*"
}

step "checking what the tests need"
want_runtime_tools
want_command prometheus promtool "promtool checks the exposition, Prometheus scrapes the exporter"
want_command prometheus-node-exporter prometheus-node-exporter "the bridge test scrapes Debian's node exporter"
want_command npm npm "fetches the version matrix's PostgreSQL binaries"
want_command systemd systemd-socket-activate "socket activation test"
want_command man-db man "the Debian package test looks its manual page up"
want_command chromium chromium "the console's browser test drives headless Chromium"
want_command dpkg-dev dpkg-shlibdeps "cargo deb works out the package's dependencies"
timed install_missing_packages

# The extensions the end-to-end tests install, from Debian, for the PostgreSQL major the tests
# run (the highest under /usr/lib/postgresql unless PG_BIN_DIR says otherwise).
EXTENSION_PACKAGES=(pg-stat-kcache pg-qualstats pg-wait-sampling postgis-3)
if [[ -n "${PG_BIN_DIR:-}" ]]; then
    pg_major=$(basename "$(dirname "$PG_BIN_DIR")")
else
    pg_major=$(ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1 || true)
fi
if [[ -n "$pg_major" ]]; then
    for package in "${EXTENSION_PACKAGES[@]}"; do
        want_installed "postgresql-$pg_major-$package" "the extension tests"
    done
fi
timed install_missing_packages

step "PostgreSQL binaries of the version matrix"
timed bash scripts/install-postgresql-matrix.sh

if ! cargo deb --version >/dev/null 2>&1; then
    step "cargo install cargo-deb (builds the Debian package in the package test)"
    timed cargo install -j2 --locked cargo-deb
fi

# The runtimes besides the default (tokio) whose binaries the end-to-end tests run against.
OTHER_RUNTIMES=(smol fork)
# The end-to-end test targets that run the binaries.
E2E_TESTS=(exporter extensions management cli fork_processes history deadlines bridge probe alerts
    console socket_activation hostile)

step "building the binaries"
timed cargo build -j2 --bins
step "running every test of the workspace"
timed cargo test -j2 --workspace

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
step "building the ${OTHER_RUNTIMES[*]} runtimes"
timed scripts/build-runtimes.sh "${OTHER_RUNTIMES[@]}"
for runtime in "${OTHER_RUNTIMES[@]}"; do
    step "end-to-end tests against the $runtime runtime"
    PGEXPORTER_BIN_DIR="$PWD/target/runtimes/$runtime" \
        timed cargo test -j2 -p pgexporter-tests "${e2e_args[@]}"
done
echo "==> every test passed in $((SECONDS - started)) s"

#!/usr/bin/env bash
# Builds the binaries of each runtime into target/runtimes/<runtime>/ (or, with --release,
# target/runtimes-release/<runtime>/), for the end-to-end tests and the scrape benchmark to run
# through PGEXPORTER_BIN_DIR:
#
#   scripts/build-runtimes.sh [--release] [runtime...]     (default: every runtime)
#
# Every build shares the workspace's target directory: only the root package is built again per
# runtime. The default build is made last, so target/<profile>/ holds the default binaries again
# when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every runtime feature `runtime-<name>` of the root package; the first is the default one.
ALL_RUNTIMES=(tokio smol fork)
BINARIES=(pgexporter pgexporter-cli pgexporter-admin pgexporter-config)

profile=debug
profile_flag=()
if [[ "${1:-}" == "--release" ]]; then
    profile=release
    profile_flag=(--release)
    shift
fi
runtimes=("$@")
if [[ ${#runtimes[@]} -eq 0 ]]; then
    runtimes=("${ALL_RUNTIMES[@]}")
fi
out_root=target/runtimes
if [[ "$profile" == release ]]; then
    out_root=target/runtimes-release
fi

for runtime in "${runtimes[@]}"; do
    if [[ ! " ${ALL_RUNTIMES[*]} " == *" $runtime "* ]]; then
        echo "unknown runtime '$runtime'; known: ${ALL_RUNTIMES[*]}" >&2
        exit 2
    fi
    cargo build -j2 "${profile_flag[@]}" --bins --no-default-features --features "runtime-$runtime"
    mkdir -p "$out_root/$runtime"
    for binary in "${BINARIES[@]}"; do
        cp "target/$profile/$binary" "$out_root/$runtime/$binary"
    done
    echo "runtime $runtime: $out_root/$runtime"
done
# Put the default binaries back where `cargo test` looks for them.
cargo build -j2 "${profile_flag[@]}" --bins

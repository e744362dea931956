#!/usr/bin/env bash
# Runs fuzz targets for the given number of seconds each (default 60), one after another in a
# single process each (two cores are plenty for one target at a time), then prints the
# executions and findings per target. Without target names, every target runs.
#
#   fuzz/run.sh [seconds] [target...]
#
# Needs nightly and cargo-fuzz (`rustup toolchain install nightly`, `cargo install cargo-fuzz`).
# The working corpus grows in fuzz/corpus/<target> (git-ignored), starting from the committed
# seeds in fuzz/corpus-seeds/<target>; findings land in fuzz/artifacts/<target>, full logs in
# fuzz/logs/<target>.log. A finding stops its target; the next target still runs. Keep the input
# that found a bug under fuzz/regressions/<target>/ once it is fixed.
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [seconds per target] [target...]" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))
cd "$(dirname "$0")"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz on nightly is missing: run \`rustup toolchain install nightly\` and \`cargo install cargo-fuzz\`" >&2
    exit 1
fi

all_targets=(
    pg_backend pg_connection scram_client scram_server http_request http_response_stream
    config_ini config_toml metrics_yaml metrics_json vault_credentials vault_blob master_key
    exposition_array exposition_strict management_frame management_document
    management_handshake_server management_handshake_client exposition_parse
    http_client_response
)
if [ $# -gt 0 ]; then
    targets=("$@")
    for target in "${targets[@]}"; do
        if ! [[ " ${all_targets[*]} " == *" $target "* ]]; then
            echo "unknown target $target; known: ${all_targets[*]}" >&2
            exit 2
        fi
    done
else
    targets=("${all_targets[@]}")
fi

dictionary() {
    case "$1" in
        pg_*) echo pg ;;
        scram_*) echo scram ;;
        http_*) echo http ;;
        config_*) echo ini ;;
        metrics_*) echo metrics ;;
        vault_* | master_key) echo vault ;;
        exposition_array) echo array ;;
        exposition_strict) echo exposition ;;
        exposition_parse) echo scrape ;;
        management_frame | management_document) echo management ;;
        management_handshake_*) echo handshake ;;
        *) echo "no dictionary for $1" >&2; exit 1 ;;
    esac
}

# Safe Rust needs no AddressSanitizer; without it every execution is about twice as fast.
# Overflow checks and debug assertions stay on (cargo-fuzz's default).
# The targets are built once, then their binaries run directly, so editing the sources while a
# long run goes on does not disturb it.
fuzz_flags=(--sanitizer none)
if [ $# -gt 0 ]; then
    for target in "${targets[@]}"; do cargo +nightly fuzz build "${fuzz_flags[@]}" "$target"; done
else
    cargo +nightly fuzz build "${fuzz_flags[@]}"
fi
binaries="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

mkdir -p logs
summary=()
findings_total=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    before=$(find "artifacts/$target" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    log="logs/$target.log"
    echo "== $target: ${seconds}s"
    status=0
    "$binaries/$target" -artifact_prefix="artifacts/$target/" "corpus/$target" "corpus-seeds/$target" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=5 \
        -dict="dict/$(dictionary "$target").dict" -print_final_stats=1 >"$log" 2>&1 || status=$?
    after=$(find "artifacts/$target" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    found=$((after - before))
    findings_total=$((findings_total + found))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    corpus=$(find "corpus/$target" -type f | wc -l)
    summary+=("$(printf '%-28s %12s %10s %8s %8s %8s %9s %5s' "$target" "${executions:-?}" "${speed:-?}" \
        "${coverage:-?}" "$corpus" "${rss:-?}" "$found" "$status")")
    if [ "$found" -gt 0 ]; then
        echo "   finding(s) in fuzz/artifacts/$target, see $log"
    fi
done

echo
printf '%-28s %12s %10s %8s %8s %8s %9s %5s\n' target executions exec/s cov corpus rss_mb findings exit
printf '%s\n' "${summary[@]}"
echo "findings: $findings_total (${seconds}s per target)"
[ "$findings_total" -eq 0 ]

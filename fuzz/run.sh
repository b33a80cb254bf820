#!/usr/bin/env bash
# Runs fuzz targets for SECONDS each (default 60): each grows its corpus under
# target/fuzz-corpus/TARGET from the committed seeds in fuzz/corpus/TARGET; prints libFuzzer's
# final statistics and fails on the first finding (its input is saved under fuzz/artifacts/).
# Needs cargo-fuzz (cargo install cargo-fuzz), whose nightly flags RUSTC_BOOTSTRAP=1 allows on
# the stable toolchain.
#   fuzz/run.sh [SECONDS] [TARGET...]        (default: every target, one after the other)
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -O
found=0
for target in "${targets[@]}"; do
    extra=()
    # The parquet crate itself panics on some corrupt pages; micromarket reports such a file as
    # corrupt and keeps the panic hook quiet about it. Should a panic still reach libFuzzer, this
    # target keeps going, saving each crash under fuzz/artifacts/ for triage, and fails at the end
    # if it saved any.
    [ "$target" = ingest_parquet ] && extra=(-fork=1 -ignore_crashes=1)
    work=../target/fuzz-corpus/$target
    log=../target/fuzz-corpus/$target.log
    mkdir -p "$work"
    echo "== $target: $seconds s"
    if ! cargo fuzz run -O "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${extra[@]}" >"$log" 2>&1; then
        tail -n 40 "$log"
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)' "$log" ||
        grep -E '^#[0-9]+: cov' "$log" | tail -n 1
    if [ ${#extra[@]} -gt 0 ] && grep -q 'Test unit written to' "$log"; then
        echo "$target: $(grep -c 'Test unit written to' "$log") crash(es) saved under fuzz/artifacts/"
        found=1
    fi
done
exit "$found"

#!/usr/bin/env bash
# QA: a short libFuzzer smoke run of every fuzz target (QA_FUZZ_SECONDS each, default 30; 0
# skips it). The property, allocation, corpus-replay and okc decode/encode tests run in the
# main `cargo test` of scripts/test-all.sh. The committed corpus
# (crates/okclink-wire/tests/fuzz_corpus, tests/data/tokenx/fuzz_corpus) is only read: new inputs go to a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${QA_FUZZ_SECONDS:-30}"
if [ "$secs" != "0" ]; then
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        echo "cargo-fuzz missing: run .ci/install-qa.sh" >&2
        exit 1
    fi
    export RUSTC_BOOTSTRAP=1
    work="$(mktemp -d)"
    # On a CI disk the fuzz build (its own target dir) is not kept either.
    trap 'rm -rf "$work"; if [ "${OKC_CI_LEAN:-0}" = 1 ]; then rm -rf fuzz/target; fi' EXIT
    for t in usb_default usb_session serial cert tokenx_webhook nexo_xml; do
        mkdir -p "$work/$t"
        corpus="../crates/okclink-wire/tests/fuzz_corpus/$t"
        [ "$t" = tokenx_webhook ] && corpus="../tests/data/tokenx/fuzz_corpus/$t"
        [ "$t" = nexo_xml ] && corpus="../tests/data/nexo/fuzz_corpus/$t"
        echo "fuzz smoke: $t for ${secs}s"
        if ! (cd fuzz && cargo fuzz run -O "$t" "$work/$t" "$corpus" -- \
            -max_total_time="$secs" -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1 \
            >"$work/$t.log" 2>&1); then
            tail -n 80 "$work/$t.log" >&2
            echo "fuzz target $t failed (reproducer in fuzz/artifacts/$t)" >&2
            exit 1
        fi
        grep -E "^Done|stat::number_of_executed_units" "$work/$t.log" || true
    done
fi

#!/usr/bin/env bash
# QA helper (issue 2): tools for the fuzz smoke run. cargo-fuzz drives libFuzzer; it runs on the
# stable toolchain with RUSTC_BOOTSTRAP=1 (it needs -Z flags), so no nightly is required.
set -euo pipefail
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

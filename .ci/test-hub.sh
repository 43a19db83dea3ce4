#!/usr/bin/env bash
# The main job as the README gives it (both device models); the hub, simulator and CLI test
# suites themselves run in `cargo test --all-targets`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --bin okc -- demo
cargo run --quiet --release --bin okc -- demo --model 300tr --json >/dev/null
# The release build is this suite's own; on a CI disk it is not kept.
if [ "${OKC_CI_LEAN:-0}" = 1 ]; then rm -rf "${CARGO_TARGET_DIR:-target}/release"; fi

#!/usr/bin/env bash
# Connection runtime, TCP transport, CLI: unit tests, end-to-end tests (in-memory and TCP,
# against the simulator and a fake device), and the demo the README points at.
set -euo pipefail
cargo test --lib -- hub:: transport::tcp
cargo test --test e2e_hub --test e2e_sim --test e2e_cli
cargo run --quiet --bin okc -- demo
cargo run --quiet --bin okc -- demo --model 300tr --json >/dev/null

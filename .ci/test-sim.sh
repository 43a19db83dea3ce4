#!/usr/bin/env bash
# Device simulator tests: unit tests of src/sim and src/transport/mem.rs, then the
# simulator against the host session (sans-IO, in-memory link, TCP on 127.0.0.1:0).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --lib -- sim:: transport::mem
cargo test --test sim_engine --test sim_mem --test sim_tcp

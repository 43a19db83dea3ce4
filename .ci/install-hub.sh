#!/usr/bin/env bash
# Connection runtime / CLI (helper "hub"): nothing beyond the Rust toolchain and the crates
# in Cargo.lock (chrono is fetched by cargo). Kept for symmetry; idempotent.
set -euo pipefail
command -v cargo >/dev/null

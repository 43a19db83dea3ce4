#!/usr/bin/env bash
# The support console of `okc serve` in a real headless Chromium driven through chromedriver
# (crates/okclink-serve/tests/console_browser.rs, #[ignore]d in a plain cargo test): the page
# loads, shows the simulator's fiscal serial, a test basket becomes a receipt row, a test
# payment is approved. The screenshot is kept as a CI artifact (path printed at the end).
# Needs chromium + chromium-driver (.ci/install-console.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tdir=${CARGO_TARGET_DIR:-target}
mkdir -p "$tdir/ci-artifacts"
art=$(cd "$tdir/ci-artifacts" && pwd)
export OKC_CONSOLE_SCREENSHOT="$art/console.png"
rm -f "$art"/console*.png
# The test binary is the one `cargo test --all-targets` builds too: nothing private to delete
# on a CI disk (OKC_CI_LEAN); the browser's profile is removed by the test itself.
status=0
timeout 900 cargo test -p okclink-serve --test console_browser -- --ignored --nocapture --test-threads=1 || status=$?
for f in "$art"/console*.png; do
  if [ -f "$f" ]; then echo "console screenshot: $f"; fi
done
exit $status

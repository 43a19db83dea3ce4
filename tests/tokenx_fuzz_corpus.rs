//! Replays tests/data/tokenx/fuzz_corpus/tokenx_webhook/* through the entry the cargo-fuzz
//! target `tokenx_webhook` calls (feature `fuzzing`): seeds from the TokenX samples plus every
//! reproducer the fuzzer found. The entry panics on a broken invariant.

use std::path::PathBuf;

#[test]
fn tokenx_webhook_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tokenx/fuzz_corpus/tokenx_webhook");
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        eprintln!("{}", p.display());
        okclink::fiscal::tokenx::api::fuzzing::tokenx(&std::fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n >= 15, "{n} corpus entries");
}

//! Replays tests/data/nexo/fuzz_corpus/nexo_xml/* through the entry the cargo-fuzz target
//! `nexo_xml` calls (feature `fuzzing`): the samples of tests/nexo_codec.rs plus every
//! reproducer the fuzzer found. The entry panics on a broken invariant.

use std::path::PathBuf;

#[test]
fn nexo_xml_corpus() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/nexo/fuzz_corpus/nexo_xml");
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        eprintln!("{}", p.display());
        okclink::pay::nexo::msg::fuzzing::xml(&std::fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n >= 36, "{n} corpus entries");
}

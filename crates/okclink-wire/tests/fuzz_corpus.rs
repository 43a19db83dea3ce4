//! Replays tests/fuzz_corpus/<target>/* through the same entry functions the cargo-fuzz
//! targets call (`okclink_wire::fuzzing`): the vendor vectors as seeds plus every crash
//! reproducer the fuzzers found. Each entry panics on a broken invariant.

use std::path::PathBuf;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target);
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let data = std::fs::read(&p).unwrap();
        eprintln!("{}", p.display());
        f(&data);
        n += 1;
    }
    n
}

#[test]
fn usb_default_corpus() {
    assert!(replay("usb_default", okclink_wire::fuzzing::usb_default) >= 10);
}

#[test]
fn usb_session_corpus() {
    assert!(replay("usb_session", okclink_wire::fuzzing::usb_session) >= 10);
}

#[test]
fn serial_corpus() {
    assert!(replay("serial", okclink_wire::fuzzing::serial) >= 10);
}

#[test]
fn cert_corpus() {
    assert!(replay("cert", okclink_wire::fuzzing::cert) >= 5);
}

//! `unsafe` lives in `src/ffi` only: every other crate of the workspace forbids it
//! (`#![forbid(unsafe_code)]`), the root crate denies it and only `src/ffi` may allow it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn unsafe_code_only_in_src_ffi() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("#![deny(unsafe_code)]"),
        "src/lib.rs must deny unsafe_code"
    );
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut allowed = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if text.contains("allow(unsafe_code)") {
            allowed.push(f.strip_prefix(root).unwrap().to_path_buf());
        }
    }
    assert!(!allowed.is_empty(), "the ffi module allows unsafe_code");
    for f in &allowed {
        assert!(
            f.starts_with("src/ffi"),
            "{} allows unsafe_code outside src/ffi",
            f.display()
        );
    }
    for krate in ["okclink-wire", "okclink-sim", "okc"] {
        let dir = root.join("crates").join(krate).join("src");
        let lib = std::fs::read_to_string(dir.join("lib.rs")).unwrap();
        assert!(
            lib.contains("#![forbid(unsafe_code)]"),
            "crates/{krate}/src/lib.rs must forbid unsafe_code"
        );
    }
    let main = std::fs::read_to_string(root.join("crates/okc/src/main.rs")).unwrap();
    assert!(main.contains("#![forbid(unsafe_code)]"));
}

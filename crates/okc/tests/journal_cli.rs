//! `okc journal list|show|export|verify` as a process, on a journal written through the
//! library.

#![cfg(feature = "journal")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use okclink::journal::{Begin, Journal, Kind, Outcome};
use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal-cli")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("journal.sqlite")
}

fn okc(args: &[&str], env: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_okc"));
    c.arg("journal").args(args).env_remove("OKC_JOURNAL");
    if let Some(p) = env {
        c.env("OKC_JOURNAL", p);
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("killed; stderr {}", String::from_utf8_lossy(&o.stderr)))
}

fn id(b: Begin) -> i64 {
    match b {
        Begin::New(id) => id,
        Begin::Known(e) => panic!("{e:?}"),
    }
}

/// A basket with its receipt (confirmed) and a payment left in doubt.
fn sample(path: &Path) -> (i64, i64) {
    let j = Journal::open(path).unwrap();
    let b = id(j
        .begin(Kind::Basket, "B-1", "AV0001", r#"{"basketID":"B-1"}"#)
        .unwrap());
    j.mark_sent(b).unwrap();
    j.record_result(b, r#"{"status":0}"#, Outcome::Success)
        .unwrap();
    j.confirm(b).unwrap();
    let p = id(j
        .begin(Kind::Payment, "P-1", "nexo+http://t", r#"{"amount":100}"#)
        .unwrap());
    j.mark_sent(p).unwrap();
    j.mark_in_doubt(p, "timeout").unwrap();
    (b, p)
}

#[test]
fn list_show_export_verify() {
    let path = tmp("all");
    let (b, p) = sample(&path);
    let p_str = path.to_str().unwrap();

    let o = okc(&["list", "--journal", p_str], None);
    assert_eq!(code(&o), 0, "{o:?}");
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.contains("answered/success") && text.contains("confirmed"),
        "{text}"
    );
    assert!(
        text.contains("in_doubt") && text.contains("timeout"),
        "{text}"
    );

    // OKC_JOURNAL names the file too; --json gives one object per line; filters apply.
    let o = okc(&["list", "--json", "--kind", "payment"], Some(&path));
    assert_eq!(code(&o), 0, "{o:?}");
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], p);
    assert_eq!(lines[0]["state"], "in_doubt");
    assert_eq!(lines[0]["request"]["amount"], 100);

    let o = okc(&["show", &b.to_string(), "--json"], Some(&path));
    assert_eq!(code(&o), 0, "{o:?}");
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["key"], "B-1");
    let events: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["recorded", "sent", "answered", "confirmed"]);
    let o = okc(&["show", "P-1"], Some(&path));
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(stdout(&o).contains("in_doubt"), "{}", stdout(&o));
    let o = okc(&["show", "nope"], Some(&path));
    assert_eq!(code(&o), 6, "{o:?}");

    let o = okc(&["export", "--since", "2000-01-01"], Some(&path));
    assert_eq!(code(&o), 0, "{o:?}");
    let csv = stdout(&o);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("id,kind,key,scope,state"), "{csv}");
    assert!(rows[1].starts_with(&format!("{b},basket,B-1,AV0001,answered,success,1,")));
    let o = okc(
        &["export", "--since", "2999-01-01", "--format", "json"],
        Some(&path),
    );
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o)).unwrap(),
        serde_json::json!([])
    );
    let out = path.with_file_name("export.json");
    let o = okc(
        &[
            "export",
            "--format",
            "json",
            "--output",
            out.to_str().unwrap(),
        ],
        Some(&path),
    );
    assert_eq!(code(&o), 0, "{o:?}");
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    let o = okc(&["export", "--since", "last tuesday"], Some(&path));
    assert_eq!(code(&o), 6, "{o:?}");

    let o = okc(&["verify"], Some(&path));
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(stdout(&o).contains("2 entries, ok"), "{}", stdout(&o));

    // A receipt the device printed for a basket the journal never saw.
    {
        let j = Journal::open(&path).unwrap();
        let r = id(j.begin(Kind::Receipt, "B-typed", "AV0001", "{}").unwrap());
        j.record_result(r, "{}", Outcome::Success).unwrap();
    }
    let o = okc(&["verify", "--json"], Some(&path));
    assert_eq!(code(&o), 3, "{o:?}");
    let text = stdout(&o);
    assert_eq!(
        text.lines().count(),
        1,
        "the report is the only line: {text}"
    );
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["findings"][0]["check"], "receipt_without_basket");
}

#[test]
fn no_journal_is_a_clear_error_and_nothing_is_created() {
    let o = okc(&["list"], None);
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("OKC_JOURNAL"));

    let missing = tmp("missing");
    let o = okc(&["verify"], Some(&missing));
    assert_eq!(code(&o), 7, "{o:?}");
    assert!(!missing.exists());

    let garbage = tmp("garbage");
    std::fs::write(&garbage, vec![0x5Au8; 4096]).unwrap();
    let o = okc(&["verify"], Some(&garbage));
    assert_eq!(code(&o), 7, "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("damaged") && err.contains("aside"), "{err}");

    let o = okc(&["frobnicate"], Some(&garbage));
    assert_eq!(code(&o), 1, "{o:?}");
    let o = okc(&["--help"], None);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(stdout(&o).contains("okc journal export"));
}

/// `okc journal prune` deletes finished entries older than `--keep-days` and never an
/// unfinished one.
#[test]
fn prune_keeps_recent_and_unfinished_entries() {
    use okclink::journal::{Begin, Journal, Kind, Outcome};
    let dir = std::env::temp_dir().join(format!("okc-journal-prune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("j.sqlite");
    {
        let j = Journal::open(&path).unwrap();
        let Begin::New(a) = j.begin(Kind::Basket, "done", "wired", "{}").unwrap() else {
            panic!()
        };
        j.mark_sent(a).unwrap();
        j.record_result(a, "{}", Outcome::Success).unwrap();
        j.confirm(a).unwrap();
        let Begin::New(_) = j.begin(Kind::Basket, "open", "wired", "{}").unwrap() else {
            panic!()
        };
    }
    let p = path.to_str().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_okc"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["journal", "prune", "--journal", p]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("pruned 0 "));
    assert_eq!(
        run(&["journal", "prune", "--journal", p, "--keep-days", "0"])
            .status
            .code(),
        Some(1)
    );
    let j = Journal::open(&path).unwrap();
    assert!(j.get(Kind::Basket, "done").unwrap().is_some());
    assert!(j.get(Kind::Basket, "open").unwrap().is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

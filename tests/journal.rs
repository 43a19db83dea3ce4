//! The journal (docs/JOURNAL.md) through its public API, on real files: idempotency, every
//! state change across a re-open, crash leftovers, migrations, refusal of newer / corrupt /
//! read-only / locked files, export, verify, prune, concurrency and a SIGKILLed writer.

#![cfg(feature = "journal")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use okclink::journal::{
    now_ms, schema, Begin, Filter, Format, Journal, JournalError, Kind, OpenOptions, Outcome, State,
};

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("journal")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("journal.sqlite")
}

fn new_id(b: Begin) -> i64 {
    match b {
        Begin::New(id) => id,
        Begin::Known(e) => panic!("known: {e:?}"),
    }
}

fn known(b: Begin) -> okclink::journal::Entry {
    match b {
        Begin::Known(e) => *e,
        Begin::New(id) => panic!("new: {id}"),
    }
}

const REQ: &str = r#"{"amount":1250,"currency":"SEK","reference":"r-1"}"#;

#[test]
fn a_known_id_returns_its_state_and_result_instead_of_being_sent_again() {
    let j = Journal::open(tmp("idem")).unwrap();
    let id = new_id(j.begin(Kind::Payment, "r-1", "nexo://poi", REQ).unwrap());
    let e = known(j.begin(Kind::Payment, "r-1", "nexo://poi", REQ).unwrap());
    assert_eq!((e.id, e.state, e.result), (id, State::Recorded, None));
    j.mark_sent(id).unwrap();
    assert_eq!(
        known(j.begin(Kind::Payment, "r-1", "nexo://poi", REQ).unwrap()).state,
        State::Sent
    );
    j.record_result(id, r#"{"approved":false}"#, Outcome::Declined)
        .unwrap();
    let e = known(j.begin(Kind::Payment, "r-1", "nexo://poi", REQ).unwrap());
    assert_eq!(e.state, State::Answered);
    assert_eq!(e.outcome, Some(Outcome::Declined));
    assert_eq!(e.result.as_deref(), Some(r#"{"approved":false}"#));
    assert_eq!(e.attempts, 1);
}

#[test]
fn every_state_change_survives_a_reopen() {
    let path = tmp("reopen");
    let reopen = || Journal::open(&path).unwrap();
    let id = new_id(
        reopen()
            .begin(Kind::Basket, "B-1", "AV0000001", "{}")
            .unwrap(),
    );
    let e = reopen().get(Kind::Basket, "B-1").unwrap().unwrap();
    assert_eq!((e.id, e.state, e.attempts), (id, State::Recorded, 0));

    reopen().mark_sent(id).unwrap();
    let e = reopen().get_id(id).unwrap().unwrap();
    assert_eq!((e.state, e.attempts), (State::Sent, 1));
    assert!(e.sent_at.is_some());

    reopen().mark_in_doubt(id, "link lost").unwrap();
    let e = reopen().get_id(id).unwrap().unwrap();
    assert_eq!(
        (e.state, e.reason.as_deref()),
        (State::InDoubt, Some("link lost"))
    );
    assert!(e.in_doubt_at.is_some());

    reopen()
        .record_result(id, r#"{"status":0}"#, Outcome::Success)
        .unwrap();
    let e = reopen().get_id(id).unwrap().unwrap();
    assert_eq!(e.state, State::Answered);
    assert_eq!(e.result.as_deref(), Some(r#"{"status":0}"#));
    assert!(e.answered_at.is_some() && !e.delivered());

    reopen().mark_delivered(id).unwrap();
    assert!(reopen().get_id(id).unwrap().unwrap().delivered());
    reopen().confirm(id).unwrap();
    let e = reopen().get_id(id).unwrap().unwrap();
    assert!(e.confirmed());
    assert!(e.created_at <= e.updated_at);

    let events: Vec<String> = reopen()
        .history(id)
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert_eq!(
        events,
        [
            "recorded",
            "sent",
            "in_doubt",
            "answered",
            "delivered",
            "confirmed"
        ]
    );

    let nid = new_id(
        reopen()
            .begin(Kind::EnergyLock, "O-1", "pump 3", "{}")
            .unwrap(),
    );
    reopen().mark_not_sent(nid, "cloud unreachable").unwrap();
    let e = reopen().get_id(nid).unwrap().unwrap();
    assert_eq!(e.state, State::NotSent);
    assert!(e.ended_at.is_some());
    assert!(reopen().verify().unwrap().is_ok());
}

#[test]
fn after_a_crash_unfinished_and_undelivered_entries_are_listed() {
    let path = tmp("crash");
    let (recorded, sent, doubt, answered, confirmed) = {
        let j = Journal::open(&path).unwrap();
        let recorded = new_id(j.begin(Kind::Basket, "b-rec", "dev", "{}").unwrap());
        let sent = new_id(j.begin(Kind::Payment, "p-sent", "tid", "{}").unwrap());
        j.mark_sent(sent).unwrap();
        let doubt = new_id(j.begin(Kind::Refund, "r-doubt", "tid", "{}").unwrap());
        j.mark_sent(doubt).unwrap();
        j.mark_in_doubt(doubt, "timeout").unwrap();
        let answered = new_id(j.begin(Kind::Basket, "b-ans", "dev", "{}").unwrap());
        j.mark_sent(answered).unwrap();
        j.record_result(answered, "{}", Outcome::Success).unwrap();
        j.mark_delivered(answered).unwrap(); // delivered, never confirmed
        let confirmed = new_id(j.begin(Kind::Basket, "b-ok", "dev", "{}").unwrap());
        j.mark_sent(confirmed).unwrap();
        j.record_result(confirmed, "{}", Outcome::Success).unwrap();
        j.confirm(confirmed).unwrap();
        (recorded, sent, doubt, answered, confirmed)
        // dropped here without any further marking: the "crash"
    };
    let j = Journal::open(&path).unwrap();
    let ids = |v: Vec<okclink::journal::Entry>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(j.unfinished().unwrap()), [recorded, sent, doubt]);
    assert_eq!(ids(j.undelivered().unwrap()), [answered]);
    assert!(!ids(j.list(&Filter::default()).unwrap()).is_empty());
    let _ = confirmed;
}

/// The version 1 schema as it was written, by hand (not through the current code).
const V1_BY_HAND: &str = "
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, family TEXT NOT NULL, kind TEXT NOT NULL,
    key TEXT NOT NULL, scope TEXT NOT NULL, request TEXT NOT NULL, state TEXT NOT NULL,
    outcome TEXT, result TEXT, reason TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, sent_at INTEGER, answered_at INTEGER, in_doubt_at INTEGER,
    ended_at INTEGER, delivered_at INTEGER, confirmed_at INTEGER, updated_at INTEGER NOT NULL,
    UNIQUE (family, key));
CREATE INDEX entries_state ON entries (state);
CREATE INDEX entries_updated ON entries (updated_at);
INSERT INTO schema_version VALUES (1, 1000);
INSERT INTO entries (family, kind, key, scope, request, state, outcome, result, attempts,
    created_at, sent_at, answered_at, updated_at)
    VALUES ('basket', 'basket', 'old-1', 'AV1', '{}', 'answered', 'success', '{\"status\":0}',
    1, 1000, 1001, 1002, 1002);
INSERT INTO entries (family, kind, key, scope, request, state, attempts, created_at, sent_at,
    updated_at)
    VALUES ('money', 'payment', 'old-2', 'tid', '{}', 'sent', 1, 2000, 2001, 2001);
";

#[test]
fn a_version_1_file_is_migrated() {
    let path = tmp("v1");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(V1_BY_HAND).unwrap();
    }
    // Read-only opening does not migrate: it says what to do.
    let e = Journal::open_with(
        &path,
        &OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, JournalError::TooOld { found: 1, .. }), "{e:?}");
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.schema_version().unwrap(), schema::CURRENT);
    const { assert!(schema::CURRENT >= 2) };
    let old = j.get(Kind::Basket, "old-1").unwrap().unwrap();
    assert_eq!(old.result.as_deref(), Some(r#"{"status":0}"#));
    let h: Vec<String> = j
        .history(old.id)
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert_eq!(h, ["recorded", "answered"]);
    let p = j.get(Kind::Payment, "old-2").unwrap().unwrap();
    assert_eq!(j.unfinished().unwrap(), vec![p.clone()]);
    j.mark_in_doubt(p.id, "found after the upgrade").unwrap();
    known(j.begin(Kind::Basket, "old-1", "AV1", "{}").unwrap());
    assert!(j.verify().unwrap().is_ok(), "{:?}", j.verify());
    drop(j);
    // Opening again changes nothing.
    assert_eq!(
        Journal::open(&path).unwrap().schema_version().unwrap(),
        schema::CURRENT
    );
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let path = tmp("newer");
    Journal::open(&path).unwrap();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("INSERT INTO schema_version VALUES (99, 0)", [])
            .unwrap();
    }
    let e = Journal::open(&path).unwrap_err();
    match &e {
        JournalError::TooNew {
            found, supported, ..
        } => assert_eq!((*found, *supported), (99, schema::CURRENT)),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("newer okclink"), "{e}");
    let c = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as u32, schema::CURRENT + 1);
}

#[test]
fn a_garbage_file_is_reported_corrupt_and_left_alone() {
    let path = tmp("garbage");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let e = Journal::open(&path).unwrap_err();
    assert!(matches!(e, JournalError::Corrupt { .. }), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("move the file") && m.contains("aside"), "{m}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn a_damaged_page_is_reported_corrupt() {
    let path = tmp("damaged");
    {
        let j = Journal::open(&path).unwrap();
        for i in 0..300 {
            let id = new_id(
                j.begin(
                    Kind::Basket,
                    &format!("b{i}"),
                    "dev",
                    &format!("{{\"n\":{i}}}"),
                )
                .unwrap(),
            );
            j.mark_sent(id).unwrap();
        }
    }
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * 4096, "{}", bytes.len());
    // Keep the header (page 1), overwrite the b-tree pages after it.
    for b in &mut bytes[4096..] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = Journal::open(&path).unwrap_err();
    assert!(matches!(e, JournalError::Corrupt { .. }), "{e:?}");
}

#[test]
fn another_sqlite_file_is_not_taken_over() {
    let path = tmp("foreign");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE customers (name TEXT)")
        .unwrap();
    let e = Journal::open(&path).unwrap_err();
    assert!(matches!(e, JournalError::Foreign { .. }), "{e:?}");
}

#[test]
fn an_unusable_folder_is_a_typed_error() {
    let dir = tmp("notadir").parent().unwrap().to_path_buf();
    let file = dir.join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let e = Journal::open(file.join("journal.sqlite")).unwrap_err();
    assert!(matches!(e, JournalError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("OKC_JOURNAL"), "{e}");
    // Read-only opening never creates anything.
    let missing = dir.join("missing.sqlite");
    let e = Journal::open_with(
        &missing,
        &OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, JournalError::CannotOpen { .. }), "{e:?}");
    assert!(!missing.exists());
}

/// Permission bits do not stop root (CI runs as root): these cases are skipped then.
#[cfg(unix)]
fn permissions_apply(dir: &Path) -> bool {
    let probe = dir.join("probe");
    std::fs::write(&probe, b"x").unwrap();
    set_mode(&probe, 0o444);
    let writable = std::fs::OpenOptions::new()
        .append(true)
        .open(&probe)
        .is_ok();
    set_mode(&probe, 0o644);
    std::fs::remove_file(&probe).unwrap();
    !writable
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_read_only_file_or_folder_is_a_typed_error() {
    let path = tmp("readonly");
    let dir = path.parent().unwrap().to_path_buf();
    if !permissions_apply(&dir) {
        eprintln!("skipped: permission bits do not apply to this user (root)");
        return;
    }
    Journal::open(&path).unwrap();
    set_mode(&path, 0o444);
    let e = Journal::open(&path).unwrap_err();
    assert!(matches!(e, JournalError::ReadOnly { .. }), "{e:?}");
    assert!(e.to_string().contains("writable"), "{e}");
    set_mode(&path, 0o644);

    let ro_dir = dir.join("ro");
    std::fs::create_dir(&ro_dir).unwrap();
    set_mode(&ro_dir, 0o555);
    let e = Journal::open(ro_dir.join("j.sqlite")).unwrap_err();
    set_mode(&ro_dir, 0o755);
    assert!(
        matches!(
            e,
            JournalError::CannotOpen { .. } | JournalError::ReadOnly { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn a_journal_held_by_another_process_is_reported_locked() {
    let path = tmp("locked");
    Journal::open(&path).unwrap();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let opts = OpenOptions {
        busy_timeout: Duration::from_millis(100),
        ..OpenOptions::default()
    };
    let e = Journal::open_with(&path, &opts).unwrap_err();
    assert!(matches!(e, JournalError::Locked { .. }), "{e:?}");
    assert!(e.to_string().contains("another program"), "{e}");
    holder.execute_batch("COMMIT").unwrap();
    Journal::open_with(&path, &opts).unwrap();
}

fn sample(j: &Journal) -> (i64, i64) {
    let a = new_id(
        j.begin(
            Kind::Basket,
            "B,\"1\"",
            "AV1",
            r#"{"basketID":"B,\"1\"","items":[]}"#,
        )
        .unwrap(),
    );
    j.mark_sent(a).unwrap();
    j.record_result(a, r#"{"status":0,"receiptNo":7}"#, Outcome::Success)
        .unwrap();
    let b = new_id(j.begin(Kind::Payment, "P-2", "tid", REQ).unwrap());
    (a, b)
}

#[test]
fn export_writes_csv_and_json() {
    let j = Journal::open(tmp("export")).unwrap();
    let (a, b) = sample(&j);
    let mut csv = Vec::new();
    assert_eq!(j.export(None, Format::Csv, &mut csv).unwrap(), 2);
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,kind,key,scope,state,outcome,attempts,reason,created_at,sent_at,answered_at,\
         in_doubt_at,ended_at,delivered_at,confirmed_at,updated_at,request,result"
    );
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].starts_with(&format!(
            "{a},basket,\"B,\"\"1\"\"\",AV1,answered,success,1,,"
        )),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(
            r#","{""basketID"":""B,\""1\"""",""items"":[]}","{""status"":0,""receiptNo"":7}""#
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(&format!("{b},payment,P-2,tid,recorded,,0,,")),
        "{}",
        lines[2]
    );

    let mut json = Vec::new();
    j.export(None, Format::Json, &mut json).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["id"], a);
    assert_eq!(arr[0]["key"], "B,\"1\"");
    assert_eq!(arr[0]["result"]["receiptNo"], 7);
    assert_eq!(arr[0]["request"]["basketID"], "B,\"1\"");
    assert_eq!(arr[0]["state"], "answered");
    assert!(arr[0]["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(arr[1]["request"]["amount"], 1250);
    assert_eq!(arr[1]["result"], serde_json::Value::Null);

    // --since: a time after both leaves nothing; before both, everything.
    let mut out = Vec::new();
    assert_eq!(
        j.export(Some(now_ms() + 60_000), Format::Json, &mut out)
            .unwrap(),
        0
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([])
    );
    assert_eq!(
        j.export(Some(now_ms() - 60_000), Format::Csv, &mut Vec::new())
            .unwrap(),
        2
    );
}

#[test]
fn verify_finds_injected_inconsistencies() {
    let path = tmp("verify");
    let j = Journal::open(&path).unwrap();
    let (a, b) = sample(&j);
    let r = new_id(j.begin(Kind::Receipt, "B,\"1\"", "AV1", "{}").unwrap());
    j.record_result(r, r#"{"basketID":"B,\"1\""}"#, Outcome::Success)
        .unwrap();
    let rep = j.verify().unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    assert_eq!((rep.entries, rep.schema_version), (3, schema::CURRENT));

    let orphan = new_id(
        j.begin(Kind::Receipt, "typed-at-the-device", "AV1", "{}")
            .unwrap(),
    );
    j.record_result(orphan, "{}", Outcome::Success).unwrap();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("UPDATE entries SET result = NULL WHERE id = ?1", [a])
            .unwrap();
        c.execute(
            "UPDATE entries SET state = 'sent', request = 'not json' WHERE id = ?1",
            [b],
        )
        .unwrap();
    }
    let rep = j.verify().unwrap();
    let got: Vec<(Option<i64>, &str)> = rep.findings.iter().map(|f| (f.entry, f.check)).collect();
    assert_eq!(
        got,
        [
            (Some(a), "entry"),
            (Some(b), "json"),
            (Some(b), "entry"),
            (Some(orphan), "receipt_without_basket"),
        ],
        "{rep:?}"
    );
    assert_eq!(rep.to_json()["ok"], false);
}

#[test]
fn prune_removes_only_old_finished_entries() {
    let j = Journal::open(tmp("prune")).unwrap();
    let mk = |key: &str| new_id(j.begin(Kind::Payment, key, "t", "{}").unwrap());
    let confirmed = mk("confirmed");
    j.record_result(confirmed, "{}", Outcome::Success).unwrap();
    j.confirm(confirmed).unwrap();
    let unconfirmed = mk("unconfirmed");
    j.record_result(unconfirmed, "{}", Outcome::Success)
        .unwrap();
    let not_sent = mk("not-sent");
    j.mark_not_sent(not_sent, "offline").unwrap();
    let failed = mk("failed");
    j.record_result(failed, "{}", Outcome::Failed).unwrap();
    let recorded = mk("recorded");
    let sent = mk("sent");
    j.mark_sent(sent).unwrap();
    let doubt = mk("doubt");
    j.mark_in_doubt(doubt, "timeout").unwrap();

    // Nothing is old enough under the default retention.
    assert_eq!(j.prune(okclink::journal::DEFAULT_RETENTION).unwrap(), 0);
    assert_eq!(j.prune_before(now_ms() + 60_000).unwrap(), 3);
    let left: Vec<i64> = j
        .list(&Filter::default())
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, [unconfirmed, recorded, sent, doubt]);
    assert!(j.history(confirmed).unwrap().is_empty());
    assert!(j.verify().unwrap().is_ok());
}

#[test]
fn concurrent_begins_of_one_key_give_exactly_one_new() {
    let path = tmp("concurrent");
    let shared = Arc::new(Journal::open(&path).unwrap());
    let second = Arc::new(Journal::open(&path).unwrap()); // a second connection to the file
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let j = if i % 2 == 0 { &shared } else { &second }.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                j.begin(Kind::Payment, "same", "t", REQ).unwrap()
            })
        })
        .collect();
    let results: Vec<Begin> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let news: Vec<i64> = results
        .iter()
        .filter_map(|b| match b {
            Begin::New(id) => Some(*id),
            Begin::Known(_) => None,
        })
        .collect();
    assert_eq!(news.len(), 1, "{results:?}");
    assert_eq!(shared.list(&Filter::default()).unwrap().len(), 1);
}

const KILL_CHILD: &str = "OKC_JOURNAL_KILL_CHILD";

/// The child of `a_killed_writer_leaves_a_consistent_journal` (does nothing in a normal run).
#[test]
fn kill_child() {
    let Ok(path) = std::env::var(KILL_CHILD) else {
        return;
    };
    let j = Journal::open(&path).unwrap();
    for i in 0.. {
        let id = new_id(j.begin(Kind::Payment, &format!("k{i}"), "t", REQ).unwrap());
        j.mark_sent(id).unwrap();
        j.record_result(id, r#"{"approved":true}"#, Outcome::Success)
            .unwrap();
        j.mark_delivered(id).unwrap();
        j.confirm(id).unwrap();
        if i == 0 {
            println!("ready");
        }
    }
}

#[cfg(unix)]
#[test]
fn a_killed_writer_leaves_a_consistent_journal() {
    let path = tmp("kill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["kill_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(KILL_CHILD, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while !line.contains("ready") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
    }
    let wait = (now_ms() % 40) as u64 + 5; // a varying point of the cycle
    std::thread::sleep(Duration::from_millis(wait));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let j = Journal::open(&path).unwrap();
    let rep = j.verify().unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    let all = j.list(&Filter::default()).unwrap();
    assert!(!all.is_empty());
    let unfinished = j.unfinished().unwrap();
    let undelivered = j.undelivered().unwrap();
    // At most the one operation in flight is left open, and it is the last.
    assert!(
        unfinished.len() + undelivered.len() <= 1,
        "{unfinished:?} {undelivered:?}"
    );
    for e in unfinished.iter().chain(&undelivered) {
        assert_eq!(e.id, all.last().unwrap().id);
    }
    for e in &all[..all.len() - 1] {
        assert!(e.confirmed(), "{e:?}");
    }
    eprintln!(
        "killed after {wait} ms: {} entries, last {:?}",
        all.len(),
        all.last().map(|e| e.state)
    );
}

use super::*;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("okc-journal-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.sqlite"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    p
}

fn new_id(b: Begin) -> i64 {
    match b {
        Begin::New(id) => id,
        Begin::Known(e) => panic!("known: {e:?}"),
    }
}

#[test]
fn journal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Journal>();
}

#[test]
fn names_round_trip() {
    for k in Kind::ALL {
        assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
    }
    for s in State::ALL {
        assert_eq!(s.as_str().parse::<State>(), Ok(s));
    }
    assert_eq!(Kind::Refund.family(), Kind::Payment.family());
    assert_ne!(Kind::EnergyLock.family(), Kind::EnergyPay.family());
    assert!("bogus".parse::<Kind>().is_err());
}

#[test]
fn default_path_is_beside_the_logs_per_company() {
    assert_eq!(
        Journal::default_path(Path::new("logs"), "ACME Market/İst"),
        Path::new("logs").join("okclink-journal-ACME_Market__st.sqlite")
    );
    assert_eq!(
        Journal::default_path(Path::new("/x"), " ../"),
        Path::new("/x").join("okclink-journal-_.sqlite")
    );
    assert_eq!(
        Journal::default_path(Path::new("/x"), ""),
        Path::new("/x").join("okclink-journal-default.sqlite")
    );
}

#[test]
fn retention_covers_the_gptom_cancellation_window() {
    assert!(DEFAULT_RETENTION >= Duration::from_secs(93 * 24 * 3600));
}

#[test]
fn times_parse_and_format() {
    assert_eq!(parse_time("1970-01-02"), Ok(86_400_000));
    assert_eq!(parse_time("1970-01-01T00:00:01.500Z"), Ok(1_500));
    assert_eq!(parse_time("1970-01-01T02:00:00+02:00"), Ok(0));
    assert!(parse_time("yesterday").is_err());
    assert!(parse_time("2025-02-30").is_err());
    assert_eq!(format_time(1_500), "1970-01-01T00:00:01.500Z");
}

#[test]
fn transitions_are_checked() {
    let j = Journal::open(tmp("transitions")).unwrap();
    let id = new_id(j.begin(Kind::Payment, "p1", "t", "{}").unwrap());
    assert!(matches!(
        j.mark_delivered(id),
        Err(JournalError::InvalidTransition {
            from: State::Recorded,
            ..
        })
    ));
    j.mark_sent(id).unwrap();
    assert!(matches!(
        j.mark_sent(id),
        Err(JournalError::InvalidTransition {
            from: State::Sent,
            to: "sent",
            ..
        })
    ));
    j.record_result(id, "{\"approved\":true}", Outcome::Success)
        .unwrap();
    for r in [
        j.mark_in_doubt(id, "x"),
        j.mark_not_sent(id, "x"),
        j.record_result(id, "{}", Outcome::Success),
    ] {
        assert!(matches!(
            r,
            Err(JournalError::InvalidTransition {
                from: State::Answered,
                ..
            })
        ));
    }
    j.confirm(id).unwrap();
    j.confirm(id).unwrap();
    assert!(matches!(j.mark_sent(999), Err(JournalError::NotFound(999))));
    assert!(matches!(
        j.record_result(id, "not json", Outcome::Success),
        Err(JournalError::InvalidInput(_))
    ));
    let e = j.get_id(id).unwrap().unwrap();
    assert!(e.delivered() && e.confirmed());
    let events: Vec<String> = j
        .history(id)
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect();
    // A second confirm changes nothing (idempotent, no second history row).
    assert_eq!(events, ["recorded", "sent", "answered", "confirmed"]);
}

#[test]
fn bad_input_and_conflicts() {
    let j = Journal::open(tmp("conflicts")).unwrap();
    assert!(matches!(
        j.begin(Kind::Basket, "", "s", "{}"),
        Err(JournalError::InvalidInput(_))
    ));
    assert!(matches!(
        j.begin(Kind::Basket, &"k".repeat(MAX_KEY_LEN + 1), "s", "{}"),
        Err(JournalError::InvalidInput(_))
    ));
    assert!(matches!(
        j.begin(Kind::Basket, "b", "s", "{"),
        Err(JournalError::InvalidInput(_))
    ));
    new_id(
        j.begin(Kind::Payment, "ref", "t1", "{\"amount\":100}")
            .unwrap(),
    );
    // Same request, other spelling: known.
    assert!(matches!(
        j.begin(Kind::Payment, "ref", "t1", "{ \"amount\" : 100 }")
            .unwrap(),
        Begin::Known(_)
    ));
    // The money namespace is shared: a refund may not reuse a payment's reference.
    for (kind, scope, req) in [
        (Kind::Refund, "t1", "{\"amount\":100}"),
        (Kind::Payment, "t2", "{\"amount\":100}"),
        (Kind::Payment, "t1", "{\"amount\":200}"),
    ] {
        let e = j.begin(kind, "ref", scope, req).unwrap_err();
        assert!(matches!(e, JournalError::Conflict { .. }), "{e}");
        assert!(e.to_string().contains("use a new id"), "{e}");
    }
    // Another family: a basket may carry the same text as id.
    new_id(j.begin(Kind::Basket, "ref", "dev", "{}").unwrap());
}

#[test]
fn not_sent_and_failed_may_be_begun_again() {
    let j = Journal::open(tmp("again")).unwrap();
    let id = new_id(j.begin(Kind::Basket, "b1", "dev", "{}").unwrap());
    j.mark_not_sent(id, "no device").unwrap();
    assert_eq!(
        new_id(j.begin(Kind::Basket, "b1", "dev2", "{}").unwrap()),
        id
    );
    let e = j.get(Kind::Basket, "b1").unwrap().unwrap();
    assert_eq!(
        (e.state, e.scope.as_str(), e.reason),
        (State::Recorded, "dev2", None)
    );
    j.mark_sent(id).unwrap();
    j.record_result(id, "{\"error\":\"busy\"}", Outcome::Failed)
        .unwrap();
    assert_eq!(j.get_id(id).unwrap().unwrap().state, State::Failed);
    assert_eq!(
        new_id(j.begin(Kind::Basket, "b1", "dev2", "{}").unwrap()),
        id
    );
    j.mark_sent(id).unwrap();
    let e = j.get_id(id).unwrap().unwrap();
    assert_eq!((e.attempts, e.result), (2, None));
    let h = j.history(id).unwrap();
    assert!(h
        .iter()
        .any(|h| h.note.as_deref() == Some("begun again after not_sent: no device")));
}

/// One write-ahead cycle (begin, sent, result, delivered, confirmed: five commits with
/// `synchronous=FULL`). Prints the time; `--nocapture` to see it. Asserts only a generous
/// bound (the criterion bench is future work).
#[test]
fn one_cycle_is_quick() {
    let j = Journal::open(tmp("cycle")).unwrap();
    let n = 50;
    let t = std::time::Instant::now();
    for i in 0..n {
        let id = new_id(
            j.begin(Kind::Payment, &format!("r{i}"), "t", "{\"amount\":1}")
                .unwrap(),
        );
        j.mark_sent(id).unwrap();
        j.record_result(id, "{\"approved\":true}", Outcome::Success)
            .unwrap();
        j.mark_delivered(id).unwrap();
        j.confirm(id).unwrap();
    }
    let per = t.elapsed() / n;
    eprintln!("journal: one record + 4 state changes: {per:?}");
    assert!(per < Duration::from_secs(1), "{per:?}");
}

#[test]
fn shared_gives_one_journal_per_file_while_held() {
    let a = tmp("shared-a");
    let b = tmp("shared-b");
    let j1 = Journal::shared(&a).unwrap();
    let j2 = Journal::shared(&a).unwrap();
    assert!(std::sync::Arc::ptr_eq(&j1, &j2));
    let other = Journal::shared(&b).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&j1, &other));
    // What one front writes, the other sees (one connection).
    let id = new_id(j1.begin(Kind::Basket, "k1", "s", "{}").unwrap());
    assert_eq!(j2.get_id(id).unwrap().unwrap().key, "k1");
    drop((j1, j2));
    // Released: the next front opens the file again and finds the entry.
    let j3 = Journal::shared(&a).unwrap();
    assert_eq!(j3.get(Kind::Basket, "k1").unwrap().unwrap().id, id);
}

#[test]
fn checkpoints_run_on_their_own_thread_and_keep_the_log_bounded() {
    let p = tmp("checkpoints");
    let j = Journal::open(&p).unwrap();
    let fresh_size = std::fs::metadata(&p).unwrap().len();
    let c = j.conn.lock();
    let auto: i64 = c
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    drop(c);
    assert_eq!(auto, 0, "the journal's connection never checkpoints itself");
    let rounds = checkpoint::CHECKPOINT_AFTER_COMMITS as usize * 3;
    for i in 0..rounds / 2 {
        let id = new_id(j.begin(Kind::Basket, &format!("b{i}"), "s", "{}").unwrap());
        j.mark_sent(id).unwrap();
    }
    // The thread runs after every CHECKPOINT_AFTER_COMMITS commits: 3 due (fewer when it
    // woke late and found more than one round's commits: one checkpoint covers them).
    let t = std::time::Instant::now();
    while j.checkpoints() < 1 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!((1..=3).contains(&j.checkpoints()), "{}", j.checkpoints());
    // The main file received the entries (only a checkpoint writes it), and once the thread
    // caught up the next write starts the log from its beginning: it holds that write's few
    // frames, not the ≥ 1 800 of 600 commits.
    let size = std::fs::metadata(&p).unwrap().len();
    assert!(
        size > 4 * fresh_size,
        "{size} bytes, {fresh_size} when opened"
    );
    std::thread::sleep(Duration::from_millis(200));
    let id = new_id(j.begin(Kind::Basket, "after", "s", "{}").unwrap());
    j.mark_sent(id).unwrap();
    let (busy, log): (i64, i64) = j
        .conn
        .lock()
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(
        busy == 0 && log < 100,
        "busy {busy}, {log} frames in the log"
    );
    drop(j);
    // Dropping the journal stops the thread: the file opens again at once.
    let j = Journal::open(&p).unwrap();
    assert_eq!(j.list(&Filter::default()).unwrap().len(), rounds / 2 + 1);
}

#[test]
fn deferred_writes_are_committed_and_leave_synchronous_full() {
    let p = tmp("deferred");
    let j = Journal::open(&p).unwrap();
    let id = new_id(j.begin(Kind::Basket, "b1", "s", "{}").unwrap());
    j.mark_sent(id).unwrap();
    // Committed: another connection (another process, a process killed now) sees it.
    let other = Connection::open(&p).unwrap();
    let state: String = other
        .query_row("SELECT state FROM entries WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(state, "sent");
    let sync: i64 = j
        .conn
        .lock()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "FULL again after a deferred write");
    j.record_result(id, "{}", Outcome::Success).unwrap();
    j.confirm(id).unwrap();
    let confirmed: Option<i64> = other
        .query_row(
            "SELECT confirmed_at FROM entries WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(confirmed.is_some());
}

#[test]
fn a_note_kept_with_sent_and_replaced_later() {
    let j = Journal::open(tmp("note")).unwrap();
    let id = new_id(j.begin(Kind::Payment, "R1", "s", "{}").unwrap());
    j.mark_sent_with(id, Some("sent [handle ServiceID 7]"))
        .unwrap();
    let e = j.get_id(id).unwrap().unwrap();
    assert_eq!(e.state, State::Sent);
    assert_eq!(e.reason.as_deref(), Some("sent [handle ServiceID 7]"));
    j.note(id, "sent [handle task 42]").unwrap();
    assert_eq!(
        j.get_id(id).unwrap().unwrap().reason.as_deref(),
        Some("sent [handle task 42]")
    );
    let events: Vec<String> = j
        .history(id)
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert_eq!(events, ["recorded", "sent", "note"]);
    // Only an unfinished entry takes a note.
    j.record_result(id, "{}", Outcome::Success).unwrap();
    assert!(matches!(
        j.note(id, "late"),
        Err(JournalError::InvalidTransition { .. })
    ));
    // mark_sent without a note keeps no reason.
    let id2 = new_id(j.begin(Kind::Payment, "R2", "s", "{}").unwrap());
    j.mark_sent(id2).unwrap();
    assert_eq!(j.get_id(id2).unwrap().unwrap().reason, None);
}

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

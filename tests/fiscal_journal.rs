//! The journal in the fiscal front, wired (docs/JOURNAL.md § The fiscal front), against the
//! in-process X30TR simulator: a known basketID is never printed again, sale infos are
//! delivered at least once and confirmed, an unfinished basket is never sent again, and a
//! journal that cannot be used stops the start with a clear error. Process kills:
//! tests/crash.rs.

use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use okclink::config::{ConfirmMode, JournalSetting};
use okclink::hub::{Config, Hub, HubError, SendOutcome, TransportSpec};
use okclink::journal::{Begin, Journal, Kind, State};
use okclink::transport::Connector;
use okclink_sim::{mem_connector, SimConfig, SimControl};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("okc-fj-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("journal.sqlite")
}

fn basket(id: &str) -> String {
    format!(
        r#"{{"basketID":"{id}","items":[{{"name":"ÇAY","price":500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}],"paymentItems":[{{"amount":500,"description":"Nakit","type":1}}]}}"#
    )
}

fn hub(conn: &Arc<dyn Connector>, journal: &std::path::Path, confirm: ConfirmMode) -> Hub {
    let mut c = Config::new("Journal Test");
    c.transports = vec![TransportSpec::Custom(conn.clone())];
    c.log_dir = None;
    c.journal = JournalSetting::Path(journal.to_path_buf());
    c.confirm = confirm;
    Hub::new(c).expect("hub")
}

/// The sale infos' basketIDs, as the callback sees them.
fn sales(hub: &Hub) -> Receiver<String> {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        if t == 3 {
            let id = okclink::hub::basket_id_of(v).unwrap_or_default();
            let _ = tx.lock().unwrap().send(id);
        }
    })));
    rx
}

fn printed(ctl: &SimControl) -> usize {
    ctl.with(|s| s.sales().len())
}

fn connected(h: &Hub) {
    assert!(h.wait_connected(Duration::from_secs(10)).is_some());
}

const QUIET: Duration = Duration::from_millis(400);

#[test]
fn a_known_basket_is_not_printed_again_after_a_restart() {
    let path = tmp("known");
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let a = hub(&conn, &path, ConfirmMode::Callback);
    let rx = sales(&a);
    connected(&a);
    assert_eq!(a.send_basket(&basket("k-1")), Ok(SendOutcome::Accepted));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "k-1");
    a.close();
    assert_eq!(printed(&ctl), 1);

    let b = hub(&conn, &path, ConfirmMode::Callback);
    let rx = sales(&b);
    connected(&b);
    // Answered from the journal: no second receipt, and (confirmed) no second delivery.
    assert_eq!(b.send_basket(&basket("k-1")), Ok(SendOutcome::Accepted));
    assert!(rx.recv_timeout(QUIET).is_err());
    assert_eq!(printed(&ctl), 1);
    let sale = b.recorded_sale("k-1").expect("recorded");
    assert!(sale.contains("\"receiptNo\""), "{sale}");
    // Another basketID is sold as usual.
    assert_eq!(b.send_basket(&basket("k-2")), Ok(SendOutcome::Accepted));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "k-2");
    assert_eq!(printed(&ctl), 2);
    b.close();

    let j = Journal::open(&path).unwrap();
    let e = j.get(Kind::Basket, "k-1").unwrap().unwrap();
    assert_eq!(e.state, State::Answered);
    assert_eq!(e.attempts, 1);
    assert!(j.get(Kind::Receipt, "k-1").unwrap().unwrap().confirmed());
    // A basketID reused with another basket is refused, not printed.
    let c = hub(&conn, &path, ConfirmMode::Callback);
    connected(&c);
    let other = basket("k-1").replace("ÇAY", "SU");
    match c.send_basket(&other) {
        Err(HubError::Journal(m)) => assert!(m.contains("k-1"), "{m}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(printed(&ctl), 2);
}

#[test]
fn explicit_confirmation_delivers_again_until_confirmed() {
    let path = tmp("explicit");
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let a = hub(&conn, &path, ConfirmMode::Explicit);
    let rx = sales(&a);
    connected(&a);
    assert_eq!(a.send_basket(&basket("e-1")), Ok(SendOutcome::Accepted));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "e-1");
    a.close(); // never confirmed

    let b = hub(&conn, &path, ConfirmMode::Explicit);
    let rx = sales(&b);
    // Delivered again as soon as the callback is set, once per process...
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "e-1");
    assert!(rx.recv_timeout(QUIET).is_err());
    // ...and when the application sends the basket again, without printing it.
    connected(&b);
    assert_eq!(b.send_basket(&basket("e-1")), Ok(SendOutcome::Accepted));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "e-1");
    assert_eq!(b.confirm("e-1"), Ok(()));
    assert_eq!(b.confirm("e-1"), Ok(()), "idempotent");
    assert!(matches!(b.confirm("nope"), Err(HubError::NotFound(_))));
    b.close();

    let c = hub(&conn, &path, ConfirmMode::Explicit);
    let rx = sales(&c);
    connected(&c);
    assert_eq!(c.send_basket(&basket("e-1")), Ok(SendOutcome::Accepted));
    assert!(rx.recv_timeout(QUIET).is_err(), "confirmed: not again");
    assert_eq!(printed(&ctl), 1);
    c.close();
}

#[test]
fn an_unfinished_basket_is_never_sent_again() {
    let path = tmp("doubt");
    {
        // What a process that died after handing the basket over left behind.
        let j = Journal::open(&path).unwrap();
        let Begin::New(id) = j
            .begin(Kind::Basket, "d-1", "wired", &basket("d-1"))
            .unwrap()
        else {
            panic!("new")
        };
        j.mark_sent(id).unwrap();
    }
    let (conn, ctl) = mem_connector(SimConfig::x30tr());
    let h = hub(&conn, &path, ConfirmMode::Callback);
    let _rx = sales(&h);
    connected(&h);
    match h.send_basket(&basket("d-1")) {
        Err(HubError::InDoubt(m)) => {
            assert!(m.contains("d-1") && m.contains("not sent again"), "{m}")
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(printed(&ctl), 0);
    assert!(
        !ctl.with(|s| s.received_types().contains(&1)),
        "no basket reached the device"
    );
    h.close();
    let j = Journal::open(&path).unwrap();
    let e = j.get(Kind::Basket, "d-1").unwrap().unwrap();
    assert_eq!(e.state, State::InDoubt, "marked at start: {:?}", e.reason);
}

#[test]
fn a_journal_that_cannot_be_used_stops_the_start_with_its_name() {
    let path = tmp("corrupt");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let (conn, _ctl) = mem_connector(SimConfig::x30tr());
    let mut c = Config::new("Journal Test");
    c.transports = vec![TransportSpec::Custom(conn)];
    c.log_dir = None;
    c.journal = JournalSetting::Path(path.clone());
    match Hub::new(c) {
        Err(HubError::Journal(m)) => {
            assert!(m.contains(&path.display().to_string()), "{m}");
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("opened a corrupt journal"),
    }
    // The file is left as it was (support can look at it).
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192]);
}

#[test]
fn no_log_dir_and_journal_off_mean_no_journal() {
    let (conn, _ctl) = mem_connector(SimConfig::x30tr());
    for setting in [JournalSetting::BesideLogs, JournalSetting::Off] {
        let mut c = Config::new("No Files");
        c.transports = vec![TransportSpec::Custom(conn.clone())];
        c.log_dir = None;
        c.journal = setting;
        assert_eq!(c.journal_path(), None);
        let h = Hub::new(c).unwrap();
        assert!(matches!(h.confirm("x"), Err(HubError::Unsupported(_))));
        h.close();
    }
    let mut c = Config::new("Shop A/1");
    c.log_dir = Some("/var/log/okc".into());
    assert_eq!(
        c.journal_path().unwrap(),
        std::path::Path::new("/var/log/okc/okclink-journal-Shop_A_1.sqlite")
    );
    let c = Config::load_with(Some(r#"{"journal":"off"}"#), |_| None).unwrap();
    assert_eq!(c.journal, JournalSetting::Off);
    let c = Config::load_with(Some("{}"), |k| {
        (k == "OKC_JOURNAL").then(|| "/tmp/j.sqlite".to_string())
    })
    .unwrap();
    assert_eq!(c.journal, JournalSetting::Path("/tmp/j.sqlite".into()));
    assert!(Config::load_with(Some(r#"{"confirm":"sometimes"}"#), |_| None).is_err());
    // Retention: 100 days by default (the journal's), days from the configuration.
    assert_eq!(
        Config::new("x").journal_retention,
        okclink::journal::DEFAULT_RETENTION
    );
    let c = Config::load_with(Some(r#"{"journal_retention_days":120}"#), |_| None).unwrap();
    assert_eq!(c.journal_retention, Duration::from_secs(120 * 86_400));
    assert!(Config::load_with(Some(r#"{"journal_retention_days":0}"#), |_| None).is_err());
}

#[test]
fn recovered_says_when_the_start_up_recovery_is_over() {
    // Without a journal there is nothing to recover.
    let (conn, _ctl) = mem_connector(SimConfig::x30tr());
    let mut c = Config::new("Journal Test");
    c.transports = vec![TransportSpec::Custom(conn)];
    c.log_dir = None;
    c.journal = JournalSetting::Off;
    let h = Hub::new(c).expect("hub");
    assert!(h.recovered());
    h.close();
    // With an unfinished basket: once recovered() says so, its outcome is written.
    let path = tmp("recovered");
    {
        let j = Journal::open(&path).unwrap();
        let Begin::New(id) = j
            .begin(Kind::Basket, "r-1", "wired", &basket("r-1"))
            .unwrap()
        else {
            panic!("new")
        };
        j.mark_sent(id).unwrap();
    }
    let (conn, _ctl) = mem_connector(SimConfig::x30tr());
    let h = hub(&conn, &path, ConfirmMode::Callback);
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while !h.recovered() {
        assert!(std::time::Instant::now() < end, "recovery never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    let j = Journal::open(&path).unwrap();
    let e = j.get(Kind::Basket, "r-1").unwrap().unwrap();
    assert_eq!(e.state, State::InDoubt, "{:?}", e.reason);
    h.close();
}

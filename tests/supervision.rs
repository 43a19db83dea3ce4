//! Supervised threads: a panic injected into each worker thread of a connection object
//! (feature `test-hooks`) is caught; the link threads and the session thread report the
//! device lost with `(false, "")`, discovery reconnects, and the next sale works. The
//! dispatcher and discovery threads go on where they were.
//!
//! One test function: the panic switches are process-wide, so nothing else may run in
//! parallel in this binary.

use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use okclink::hub::{hooks, Config, Hub, HubError, SendOutcome, TransportSpec};
use okclink_sim::{self as sim, SimConfig, SimControl};

const T: Duration = Duration::from_secs(10);

enum Ev {
    State(bool, String),
    Sale(String),
}

fn hub() -> (Hub, SimControl, Receiver<Ev>) {
    let (conn, ctl) = sim::mem_connector(SimConfig::x30tr());
    let mut c = Config::new("supervision");
    c.transports = vec![TransportSpec::Custom(conn)];
    c.log_dir = None;
    let hub = Hub::new(c).unwrap();
    let (tx, rx) = channel();
    let tx2 = tx.clone();
    hub.set_device_state_callback(Some(Box::new(move |c, s| {
        let _ = tx.send(Ev::State(c, s.to_string()));
    })));
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        if t == 3 {
            let _ = tx2.send(Ev::Sale(v.to_string()));
        }
    })));
    (hub, ctl, rx)
}

fn next_state(rx: &Receiver<Ev>) -> (bool, String) {
    loop {
        match rx.recv_timeout(T).expect("a device state") {
            Ev::State(c, s) => return (c, s),
            Ev::Sale(_) => {}
        }
    }
}

fn basket(id: &str) -> String {
    format!(
        r#"{{"basketID":"{id}","documentType":9008,"items":[{{"name":"SU","price":500,"quantity":1000,"sectionNo":1,"taxPercent":1000,"type":0}}],"paymentItems":[{{"amount":500,"description":"Nakit","type":1}}]}}"#
    )
}

/// A sale completes: accepted, and its sale info (with this basket id) arrives.
fn sale(hub: &Hub, rx: &Receiver<Ev>, id: &str) {
    assert_eq!(hub.send_basket(&basket(id)), Ok(SendOutcome::Accepted));
    loop {
        match rx.recv_timeout(T).expect("a sale info") {
            Ev::Sale(v) if v.contains(id) => return,
            _ => {}
        }
    }
}

#[test]
fn a_panic_in_any_thread_is_recovered() {
    let (hub, ctl, rx) = hub();
    assert_eq!(next_state(&rx), (true, "AV0000000001".into()));
    sale(&hub, &rx, "before");

    // Link threads and the session thread: the link is reported lost, then found again.
    for (thread, trigger) in [
        ("okc-writer", "send"),
        ("okc-session", "send"),
        ("okc-reader", "device"),
    ] {
        hooks::panic_next(thread);
        match trigger {
            // Any command wakes the writer / session thread: a basket does. Its result is
            // defined either way: handed over (writer), lost with the session that panicked
            // while handling it (Err(NoDevice)), or refused by the recovered session when the
            // panic hit an earlier message (Ok(NoDevice)).
            "send" => {
                let r = hub.send_basket(&basket(&format!("lost-{thread}")));
                assert!(
                    matches!(
                        r,
                        Ok(SendOutcome::Accepted | SendOutcome::NoDevice) | Err(HubError::NoDevice)
                    ),
                    "{thread}: {r:?}"
                );
            }
            // The reader wakes when the device sends something: ask for the fiscal info.
            _ => {
                let _ = hub.fiscal_info(Some(Duration::from_millis(500)));
            }
        }
        assert_eq!(
            next_state(&rx),
            (false, String::new()),
            "{thread}: the loss is reported"
        );
        assert_eq!(
            next_state(&rx),
            (true, "AV0000000001".into()),
            "{thread}: the device is found again"
        );
        assert_eq!(hooks::pending(), 0, "{thread} passed its check point");
        assert_eq!(hub.active_device_index(), 0);
        sale(&hub, &rx, &format!("after-{thread}"));
    }
    let links_before = ctl.links_opened();

    // The dispatcher: the panic hits between two jobs; callbacks go on being delivered.
    hooks::panic_next("okc-callbacks");
    sale(&hub, &rx, "dispatcher-1");
    sale(&hub, &rx, "dispatcher-2");
    assert_eq!(hooks::pending(), 0);
    assert_eq!(ctl.links_opened(), links_before, "the link was not touched");

    // Discovery: it runs while no link is open; after the panic it goes on looking.
    hooks::panic_next("okc-discovery");
    ctl.unplug_for(Duration::from_millis(300));
    assert_eq!(next_state(&rx), (false, String::new()));
    assert_eq!(next_state(&rx), (true, "AV0000000001".into()));
    assert_eq!(hooks::pending(), 0, "discovery passed its check point");
    sale(&hub, &rx, "after-discovery");

    // Every sale printed exactly once, each delivered once (the lost ones too, where the
    // device printed them).
    let printed: Vec<String> = ctl
        .sales()
        .iter()
        .map(|s| s.receipt.basket_id.clone())
        .collect();
    for id in [
        "before",
        "after-okc-writer",
        "after-okc-session",
        "after-okc-reader",
        "dispatcher-1",
        "dispatcher-2",
        "after-discovery",
    ] {
        assert_eq!(
            printed.iter().filter(|p| *p == id).count(),
            1,
            "{id} printed once: {printed:?}"
        );
    }
    hub.close();
}

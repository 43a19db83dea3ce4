//! The `okc` command line, run as a process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use okclink_sim::{self as sim, fiscal, SimConfig};
use serde_json::Value;

fn okc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(args)
        .env_remove("OKC_TRANSPORT")
        .output()
        .expect("runs okc")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn demo_sells_and_exits_zero() {
    let o = okc(&["demo"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("demo OK"), "{out}");
    assert!(out.contains("Kredi Kartı"), "{out}");
    assert!(out.contains("status 0"), "{out}");
}

#[test]
fn demo_json_and_300tr() {
    let o = okc(&["demo", "--json", "--model", "300tr"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = json_lines(&o);
    let steps: Vec<&str> = lines.iter().filter_map(|l| l["step"].as_str()).collect();
    assert_eq!(
        steps,
        [
            "simulator",
            "create",
            "connect",
            "fiscal-info",
            "sendBasket",
            "sendPayment",
            "receipt",
            "close"
        ]
    );
    let r = lines.iter().find(|l| l["step"] == "receipt").unwrap();
    assert_eq!(r["receipt"]["status"], 0);
    assert_eq!(r["receipt"]["paymentItems"][0]["description"], "Nakit");
    let c = lines.iter().find(|l| l["step"] == "connect").unwrap();
    assert_eq!(c["index"], 1);
}

#[test]
fn tools_against_a_tcp_simulator() {
    let server = sim::serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let t = format!("tcp://{}", server.local_addr());

    let o = okc(&["fiscal-info", "--transport", &t, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = json_lines(&o);
    let fi = lines.iter().find(|l| l["step"] == "fiscal-info").unwrap();
    assert_eq!(fi["fiscal_info"]["pluCount"], 5);

    let dir = std::env::temp_dir().join(format!("okc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let basket = dir.join("basket.json");
    std::fs::write(
        &basket,
        r#"{"basketID":"cli-1","items":[{"name":"SU","price":500,"quantity":1000,"sectionNo":1}],"paymentItems":[{"amount":500,"description":"Nakit","type":1}]}"#,
    )
    .unwrap();
    let o = okc(&["send-basket", basket.to_str().unwrap(), "--transport", &t]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("status 0"));
    assert_eq!(server.sales_count(), 1);

    // A rejected basket (no items) → exit 3 with the device's text.
    std::fs::write(&basket, r#"{"basketID":"cli-2","items":[]}"#).unwrap();
    let o = okc(&["send-basket", basket.to_str().unwrap(), "--transport", &t]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("Sepette ürün yok"), "{}", text(&o));

    // Bad input → 6, before any connection.
    std::fs::write(&basket, "{not json").unwrap();
    let o = okc(&["send-basket", basket.to_str().unwrap(), "--transport", &t]);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));

    // watch prints the state event; OKC_TRANSPORT is honoured.
    let o = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args(["watch", "--json", "--duration-ms", "1500"])
        .env("OKC_TRANSPORT", &t)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = json_lines(&o);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "deviceState" && l["connected"] == true),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_codes() {
    // Nothing listens on this port (bound then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = format!("tcp://127.0.0.1:{port}");
    let o = okc(&["fiscal-info", "--transport", &t, "--connect-ms", "300"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("connection refused"), "{}", text(&o));
    assert!(okc(&["sim", "--listen"]).status.code() == Some(1));
    assert!(okc(&["sim", "--model", "x99"]).status.code() == Some(1));
    assert!(
        okc(&["sim", "--pty", "--listen", "127.0.0.1:0"])
            .status
            .code()
            == Some(1)
    );
    assert_eq!(okc(&["encode", "--bogus"]).status.code(), Some(1));
    assert_eq!(okc(&["decode"]).status.code(), Some(1));
    assert_eq!(okc(&["send-basket"]).status.code(), Some(1));
    // A port that cannot be bound: runtime error 7, not a usage error.
    assert_eq!(
        okc(&["sim", "--listen", "256.0.0.1:1"]).status.code(),
        Some(7)
    );
    assert_eq!(okc(&["frobnicate"]).status.code(), Some(1));
    assert_eq!(okc(&["demo", "--bogus"]).status.code(), Some(1));
    assert_eq!(
        okc(&["fiscal-info", "--transport", "ftp://x"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(okc(&["sim", "--bogus"]).status.code(), Some(1));
    let sh = okc(&["sim", "--help"]);
    assert_eq!(sh.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&sh.stdout).contains("--listen"));
    let h = okc(&["--help"]);
    assert_eq!(h.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&h.stdout).contains("okc demo"));
}

#[test]
fn decode_and_encode_commands() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    let basket = shared.join("protocol/vectors/msg_host_basket_type1_sessionkey.hex");
    let o = okc(&[
        "decode",
        &format!("@{}", basket.display()),
        "--key",
        "00115663341140995977338038486879",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("tag 1 (basket) len 192 crc db0d ok"), "{out}");
    assert!(
        out.contains(r#"\"basketID\":\"a123ca24-ca2c-401c-8134-f0de2ec25c25\""#),
        "{out}"
    );
    // encode reproduces the vendor's hello byte for byte.
    let o = okc(&[
        "encode",
        "--type",
        "4",
        "--key",
        "default",
        "--payload",
        "asdfg",
    ]);
    assert!(o.status.success());
    let hello = std::fs::read_to_string(
        shared.join("protocol/vectors/msg_host_hello_type4_asdfg_defaultkey.hex"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), hello.trim());
    // Bad input: exit code 6 and a message.
    let o = okc(&["decode", "zz-not-hex"]);
    assert_eq!(o.status.code(), Some(6));
    assert!(!o.stderr.is_empty());
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> String {
    repo()
        .join("examples/baskets")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn read_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The `{"step":"receipt"}` line of a `--json` run.
fn receipt_of(o: &Output) -> Value {
    json_lines(o)
        .into_iter()
        .find(|l| l["step"] == "receipt")
        .unwrap_or_else(|| panic!("no receipt line: {}", text(o)))["receipt"]
        .clone()
}

/// What the device received last with type `tag`, as JSON.
fn last_received(s: &sim::SimServer, tag: u16) -> Value {
    let r = s.received();
    let m = r.iter().rev().find(|m| m.tag == tag).expect("received");
    serde_json::from_str(&fiscal::decode_text(&m.payload)).unwrap()
}

/// Every file in examples/baskets is sold through `okc send-basket` / `send-payment`
/// against the simulator; each ends with a receipt (status 0, or 99 for the void).
#[test]
fn every_example_basket_sells() {
    let dir = repo().join("examples/baskets");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let covered = [
        "300tr-basket.json",
        "300tr-payment-card.json",
        "300tr-payment-cash.json",
        "card.json",
        "cash.json",
        "multi-tax.json",
        "void.json",
    ];
    assert_eq!(files, covered, "a new example needs a flow in this test");

    // X30TR: payments inside the basket; the receipt follows at once.
    let x30 = sim::serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let t = format!("tcp://{}", x30.local_addr());
    for (file, total, pays) in [
        ("cash.json", 4250, vec![(1, 4250.0)]),
        ("card.json", 2500, vec![(3, 2500.0)]),
        ("multi-tax.json", 13000, vec![(7, 5000.0), (1, 8000.0)]),
    ] {
        let path = example(file);
        let o = okc(&["send-basket", &path, "--transport", &t, "--json"]);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", text(&o));
        let r = receipt_of(&o);
        let want = read_json(&path);
        assert_eq!(r["status"], 0, "{file}");
        assert_eq!(r["basketID"], want["basketID"], "{file}");
        let got: Vec<(i64, f64)> = r["paymentItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["type"].as_i64().unwrap(), p["amount"].as_f64().unwrap()))
            .collect();
        assert_eq!(got, pays, "{file}");
        // The device got the file's basket (type 1) and printed its total.
        assert_eq!(last_received(&x30, 1), want, "{file}");
        let sale = x30.sales().last().unwrap().clone();
        assert_eq!((sale.total, sale.receipt.status), (total, 0), "{file}");
    }
    assert_eq!(x30.sales().len(), 3);

    // 300TR: the basket alone, then payments one by one; then a basket and its void.
    let mut cfg = SimConfig::t300tr();
    cfg.sale_delay = Duration::from_millis(200);
    let t300 = sim::serve_tcp("127.0.0.1:0", cfg).unwrap();
    let t = format!("tcp://{}?model=300tr", t300.local_addr());
    let run = |cmd: &str, file: &str, extra: &[&str]| {
        let path = example(file);
        let mut a = vec![cmd, path.as_str(), "--transport", &t, "--json"];
        a.extend_from_slice(extra);
        let o = okc(&a);
        assert_eq!(o.status.code(), Some(0), "{cmd} {file}: {}", text(&o));
        o
    };
    let o = run("send-basket", "300tr-basket.json", &[]);
    let reply = json_lines(&o)
        .into_iter()
        .find(|l| l["step"] == "reply")
        .unwrap();
    assert_eq!(
        reply["value"],
        r#"{"basketID":"example-300tr-0001","status":0}"#
    );
    assert!(t300.with(|s| s.has_open_receipt()));
    // A partial payment: the device answers, no receipt yet.
    let o = run(
        "send-payment",
        "300tr-payment-card.json",
        &["--wait-ms", "800"],
    );
    assert!(
        json_lines(&o).iter().all(|l| l["step"] != "receipt"),
        "{}",
        text(&o)
    );
    assert_eq!(
        last_received(&t300, 10),
        read_json(&example("300tr-payment-card.json"))
    );
    assert!(t300.with(|s| s.has_open_receipt()));
    let o = run("send-payment", "300tr-payment-cash.json", &[]);
    let r = receipt_of(&o);
    assert_eq!(
        (r["basketID"].as_str(), r["status"].as_i64()),
        (Some("example-300tr-0001"), Some(0))
    );
    let pays: Vec<(i64, f64)> = r["paymentItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["type"].as_i64().unwrap(), p["amount"].as_f64().unwrap()))
        .collect();
    assert_eq!(pays, [(3, 2000.0), (1, 2500.0)]);
    // The void: a new open receipt, cancelled with status 99.
    run("send-basket", "300tr-basket.json", &[]);
    let o = run("send-payment", "void.json", &[]);
    let r = receipt_of(&o);
    assert_eq!(r["status"], 99, "{}", text(&o));
    assert_eq!(
        last_received(&t300, 10),
        serde_json::json!({"isVoid": true})
    );
    let st: Vec<i32> = t300.sales().iter().map(|s| s.receipt.status).collect();
    assert_eq!(st, [0, 99]);
    assert!(t300.sales().iter().all(|s| s.acked));
}

/// `okc fiscal-info > f.json`: stdout is exactly the fiscal info, progress goes to stderr.
#[test]
fn fiscal_info_stdout_is_the_json_alone() {
    let server = sim::serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let t = format!("tcp://{}", server.local_addr());
    let o = okc(&["fiscal-info", "--transport", &t]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(&o)));
    let want: Value = serde_json::from_str(&fiscal::decode_text(fiscal::FISCAL_X30TR)).unwrap();
    assert_eq!(v, want);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("connect") && err.contains("fiscal-info"),
        "{err}"
    );
    // send-basket: the receipt line on stdout, the progress on stderr.
    let dir = std::env::temp_dir().join(format!("okc-cli-stdout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = okc(&["send-basket", &example("cash.json"), "--transport", &t]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("receipt") && out.contains("status 0"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("sendBasket"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// No device: a JSON error object on stdout with what was tried, exit 2, and fast when
/// every transport is a refusing tcp:// address.
#[test]
fn no_device_says_what_was_tried() {
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let t = format!(
        "tcp://127.0.0.1:{},tcp://127.0.0.1:{}?model=300tr",
        ports[0], ports[1]
    );
    let start = std::time::Instant::now();
    let o = okc(&[
        "send-basket",
        &example("cash.json"),
        "--transport",
        &t,
        "--json",
    ]);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        took < Duration::from_secs(5),
        "waited {took:?} for a refused port"
    );
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 1, "{}", text(&o));
    let e = &lines[0];
    assert_eq!(e["error"], "no_device");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("connection refused"));
    let tried = e["tried"].as_array().unwrap();
    assert_eq!(tried.len(), 2);
    assert_eq!(
        tried[0]["transport"],
        format!("tcp://127.0.0.1:{}", ports[0])
    );
    assert_eq!(
        tried[1]["transport"],
        format!("tcp://127.0.0.1:{}?model=300tr", ports[1])
    );
    for t in tried {
        assert!(
            t["result"]
                .as_str()
                .unwrap()
                .starts_with("connection refused"),
            "{t}"
        );
    }

    // A simulator that accepts but speaks another model: the full wait, then the reason.
    let server = sim::serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let t = format!("tcp://{}?model=300tr", server.local_addr());
    let o = okc(&[
        "fiscal-info",
        "--transport",
        &t,
        "--connect-ms",
        "1500",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = &json_lines(&o)[0];
    let r = e["tried"][0]["result"].as_str().unwrap();
    assert!(r.contains("no handshake") && r.contains("model"), "{r}");

    // A simulator busy with another host: the refusal is reported.
    let busy = sim::serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let _holder = std::net::TcpStream::connect(busy.local_addr()).unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while !busy.busy() {
        assert!(std::time::Instant::now() < until);
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = format!("tcp://{}", busy.local_addr());
    let o = okc(&[
        "fiscal-info",
        "--transport",
        &t,
        "--connect-ms",
        "1500",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = &json_lines(&o)[0];
    let r = e["tried"][0]["result"].as_str().unwrap();
    assert!(
        r.starts_with("busy: ") && r.contains("one host at a time"),
        "{r}"
    );
    assert!(busy.refused() >= 1);
}

/// `okc watch` beside a selling host: the host keeps its device, its sale completes.
#[test]
fn watch_beside_a_pos_does_not_break_its_sale() {
    let mut cfg = SimConfig::t300tr();
    cfg.sale_delay = Duration::from_millis(1500);
    let server = sim::serve_tcp("127.0.0.1:0", cfg).unwrap();
    let t = format!("tcp://{}?model=300tr", server.local_addr());
    let path = example("300tr-basket.json");
    assert_eq!(
        okc(&["send-basket", &path, "--transport", &t])
            .status
            .code(),
        Some(0)
    );
    // The POS pays; while the device prints (1.5 s), `okc watch` tries to connect.
    let dir = std::env::temp_dir().join(format!("okc-cli-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pay = dir.join("pay.json");
    std::fs::write(&pay, r#"{"amount":4250,"description":"Nakit","type":1}"#).unwrap();
    let pay = pay.to_str().unwrap().to_string();
    let tt = t.clone();
    let pos = std::thread::spawn(move || {
        okc(&[
            "send-payment",
            &pay,
            "--transport",
            &tt,
            "--json",
            "--wait-ms",
            "8000",
        ])
    });
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while server.received_types().iter().filter(|&&t| t == 10).count() == 0 {
        assert!(std::time::Instant::now() < until, "payment never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    let w = okc(&[
        "watch",
        "--transport",
        &t,
        "--duration-ms",
        "1200",
        "--json",
    ]);
    assert_eq!(w.status.code(), Some(0), "{}", text(&w));
    assert!(
        json_lines(&w).iter().all(|l| l["connected"] != true),
        "watch got the device: {}",
        text(&w)
    );
    let o = pos.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(receipt_of(&o)["status"], 0);
    let lines = json_lines(&o);
    assert!(
        lines
            .iter()
            .all(|l| !(l["event"] == "deviceState" && l["connected"] == false)),
        "the POS saw a disconnect: {}",
        text(&o)
    );
    assert!(server.refused() >= 1);
    assert_eq!(
        server.stats().handshakes,
        2,
        "basket run + payment run only"
    );
    assert_eq!(server.sales().len(), 1);
    assert!(server.sales()[0].acked);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_command_has_its_own_help() {
    for (cmd, needle) in [
        ("demo", "okc demo"),
        ("sim", "--pty"),
        ("fiscal-info", "okc fiscal-info"),
        ("send-basket", "docs/BASKETS.md"),
        ("send-payment", "okc send-payment FILE"),
        ("watch", "--duration-ms"),
        ("decode", "--key"),
        ("encode", "--type"),
    ] {
        for flag in ["--help", "-h"] {
            let o = okc(&[cmd, flag]);
            assert_eq!(o.status.code(), Some(0), "{cmd} {flag}: {}", text(&o));
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(out.contains(needle), "{cmd} {flag}: {out}");
            assert!(o.stderr.is_empty(), "{cmd} {flag}");
        }
        let o = okc(&["help", cmd]);
        assert_eq!(o.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&o.stdout).contains(needle));
    }
    // The 300TR defaults are documented.
    let o = okc(&["sim", "--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("300tr 1500") && out.contains("300tr 3000"),
        "{out}"
    );
}

#[test]
fn decode_of_a_session_key_message_without_key_asks_for_it() {
    let v = repo().join("tests/data/protocol/vectors/msg_host_payment_type10_sessionkey.hex");
    let o = okc(&["decode", &format!("@{}", v.display())]);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pass --key"), "{err}");
    // What could be read is still shown.
    assert!(String::from_utf8_lossy(&o.stdout).contains("tag 10 (payment)"));
    // With the key: exit 0.
    let o = okc(&[
        "decode",
        &format!("@{}", v.display()),
        "--key",
        "00115663341140995977338038486879",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// `okc sim --pty`: a 300TR on a pseudo-terminal, sold to through the serial transport.
#[cfg(unix)]
#[test]
fn sim_pty_sells_over_the_serial_transport() {
    use okclink::hub::{Config, Hub, TransportSpec};
    use okclink::transport::serial::{SerialConfig, SerialConnector};
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::{mpsc, Arc};

    let mut child = Command::new(env!("CARGO_BIN_EXE_okc"))
        .args([
            "sim",
            "--pty",
            "--sale-delay-ms",
            "300",
            "--resend-ms",
            "500",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _child = Kill(child);
    let path = PathBuf::from(line.trim());
    assert!(path.starts_with("/dev/pts/"), "{line:?}");

    let conn = SerialConnector::new(SerialConfig {
        path: Some(path),
        read_slice: Duration::from_millis(50),
        ..SerialConfig::default()
    });
    let mut c = Config::new("okc-test");
    c.transports = vec![TransportSpec::Custom(Arc::new(conn))];
    c.log_dir = None;
    let hub = Hub::new(c).unwrap();
    let (tx, rx) = mpsc::channel();
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        let _ = tx.send((t, v.to_string()));
    })));
    let serial = hub
        .wait_connected(Duration::from_secs(15))
        .expect("connects over the pty");
    assert_eq!(serial, "AT0000000001");
    assert_eq!(hub.active_device_index(), 1);
    let fi = hub.fiscal_info(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&fi).unwrap(),
        serde_json::from_str::<Value>(&fiscal::decode_text(fiscal::FISCAL_300TR)).unwrap()
    );
    let next = |want: i32| loop {
        let (t, v) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("device answers");
        if t == want {
            return v;
        }
    };
    let basket = std::fs::read_to_string(example("300tr-basket.json")).unwrap();
    assert_eq!(hub.send_basket(&basket).unwrap().vendor_code(), 1);
    assert_eq!(next(1), r#"{"basketID":"example-300tr-0001","status":0}"#);
    let pay = r#"{"amount":4250,"description":"Nakit","type":1}"#;
    assert_eq!(hub.send_payment(pay).unwrap().vendor_code(), 1);
    assert_eq!(next(10), r#"{"basketID":"example-300tr-0001","status":0}"#);
    let r: Value = serde_json::from_str(&next(3)).unwrap();
    assert_eq!(r["basketID"], "example-300tr-0001");
    assert_eq!(r["status"], 0);
    assert_eq!(r["paymentItems"][0]["amount"], 4250.0);
    hub.close();

    // The same pty through the configuration syntax every application has (`serial:PATH`).
    let o = okc(&[
        "fiscal-info",
        "--transport",
        &format!("serial:{}", line.trim()),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got: Value = serde_json::from_slice(&o.stdout).expect("fiscal info JSON on stdout");
    assert_eq!(
        got,
        serde_json::from_str::<Value>(&fiscal::decode_text(fiscal::FISCAL_300TR)).unwrap()
    );
}

/// The journal (docs/JOURNAL.md): a basketID it knows is answered from it, never printed
/// again (exit 0 with the recorded receipt); one sent before with no receipt is "in doubt"
/// (exit 8), not sent again.
#[test]
fn send_basket_with_a_journal_prints_once() {
    use okclink::journal::{Begin, Journal, Kind};
    let server = sim::serve_tcp("127.0.0.1:0", SimConfig::x30tr()).unwrap();
    let t = format!("tcp://{}", server.local_addr());
    let dir = std::env::temp_dir().join(format!("okc-cli-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("journal.sqlite");
    let j = journal.to_str().unwrap();
    let basket = dir.join("basket.json");
    let body = r#"{"basketID":"cli-j-1","items":[{"name":"SU","price":500,"quantity":1000,"sectionNo":1}],"paymentItems":[{"amount":500,"description":"Nakit","type":1}]}"#;
    std::fs::write(&basket, body).unwrap();
    let b = basket.to_str().unwrap();
    let o = okc(&["send-basket", b, "--transport", &t, "--journal", j]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(server.sales_count(), 1);
    let o = okc(&[
        "send-basket",
        b,
        "--transport",
        &t,
        "--journal",
        j,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = json_lines(&o);
    assert!(
        lines.iter().any(|l| l["journal"] == "known"),
        "{}",
        text(&o)
    );
    let r = lines
        .iter()
        .find(|l| l["receipt"].is_object())
        .expect("receipt");
    assert_eq!(r["receipt"]["basketID"], "cli-j-1");
    assert_eq!(r["receipt"]["status"], 0);
    assert_eq!(server.sales_count(), 1, "not printed again");
    // Sent by a process that died before the receipt: in doubt, exit 8, nothing sent.
    {
        let jr = Journal::open(&journal).unwrap();
        let other = body.replace("cli-j-1", "cli-j-2");
        let Begin::New(id) = jr.begin(Kind::Basket, "cli-j-2", "wired", &other).unwrap() else {
            panic!("new")
        };
        jr.mark_sent(id).unwrap();
        std::fs::write(&basket, other).unwrap();
    }
    let o = okc(&[
        "send-basket",
        b,
        "--transport",
        &t,
        "--journal",
        j,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(8), "{}", text(&o));
    assert!(text(&o).contains("\"in_doubt\""), "{}", text(&o));
    assert_eq!(server.sales_count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

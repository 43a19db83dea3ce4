//! C and C++ programs against the built libraries:
//! - `tests/c/okc_api_test.c` against `libokclink.so` (the okc_* API from C),
//! - `tests/c/vendor_linux_test.cpp`, written against the vendor's declarations
//!   (`include/IntegrationHubWrapper.h`), built with g++ and linked `-lIntegrationHub`
//!   against `libIntegrationHub.so` (linked here from `libokclink.a` by
//!   `scripts/link-vendor-linux.sh`), and the export table of that library.
//!
//! The device-less modes run against a closed loopback port; the sale modes run against the
//! simulator over TCP (`OKC_TRANSPORT=tcp://127.0.0.1:PORT`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use okclink_sim::{serve_tcp, SimConfig, SimServer};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>/deps: where cargo builds libokclink.{so,a} for this test run (the copies
/// in target/<profile> are only refreshed by `cargo build`).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

fn work_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ffi_c");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

/// libIntegrationHub.so in the work dir (linked once per test process).
fn vendor_so() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let dir = work_dir().join("vendor");
        std::fs::create_dir_all(&dir).unwrap();
        let so = dir.join("libIntegrationHub.so");
        run(Command::new("bash")
            .arg(root().join("scripts/link-vendor-linux.sh"))
            .arg(lib_dir().join("libokclink.a"))
            .arg(&so));
        so
    })
}

fn vendor_test_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let so = vendor_so();
        let exe = work_dir().join("vendor_linux_test");
        run(Command::new("g++")
            .args([
                "-std=c++11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-g",
                "-pthread",
            ])
            .arg("-I")
            .arg(root().join("include"))
            .arg(root().join("tests/c/vendor_linux_test.cpp"))
            .arg("-o")
            .arg(&exe)
            .arg("-L")
            .arg(so.parent().unwrap())
            .arg("-lIntegrationHub")
            .arg(format!("-Wl,-rpath,{}", so.parent().unwrap().display())));
        exe
    })
}

fn okc_test_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let exe = work_dir().join("okc_api_test");
        let lib = lib_dir();
        run(Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-pthread"])
            .arg("-I")
            .arg(root().join("include"))
            .arg(root().join("tests/c/okc_api_test.c"))
            .arg("-o")
            .arg(&exe)
            .arg("-L")
            .arg(&lib)
            .arg("-lokclink")
            .arg(format!("-Wl,-rpath,{}", lib.display())));
        exe
    })
}

/// A loopback port with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn expect_pass(out: &str) {
    let last = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    assert!(last.starts_with("PASS "), "program did not pass:\n{out}");
}

#[test]
fn vendor_so_exports_exactly_the_nine_vendor_names() {
    let so = vendor_so();
    let out = run(Command::new("nm").args(["-D", "--defined-only"]).arg(so));
    let mut exported: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[1] != "A").then(|| f[2].to_string())
        })
        .collect();
    exported.sort();
    let want: Vec<String> = std::fs::read_to_string(root().join("src/ffi/vendor.exports"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(want.len(), 9);
    assert_eq!(exported, want);
    // Every one is a function (T), unmangled.
    for l in out.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 3 && f[1] != "A" {
            assert_eq!(f[1], "T", "{l}");
        }
    }
}

#[test]
fn okclink_so_exports_only_okc_functions() {
    let out = run(Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib_dir().join("libokclink.so")));
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert!(names.contains(&"okc_create"));
    assert!(names.contains(&"okc_string_free"));
    for n in names {
        assert!(
            n.starts_with("okc_") || n == "rust_eh_personality",
            "unexpected export {n}"
        );
    }
}

#[test]
fn header_declares_every_okc_export() {
    let header = std::fs::read_to_string(root().join("include/okclink.h")).unwrap();
    let out = run(Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib_dir().join("libokclink.so")));
    for name in out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|n| n.starts_with("okc_"))
    {
        let declared =
            header.contains(&format!(" {name}(")) || header.contains(&format!("*{name}("));
        assert!(declared, "{name} missing from okclink.h");
    }
}

#[test]
fn c_program_without_device() {
    let out = run(Command::new(okc_test_exe()).arg("nodevice").env(
        "OKC_TRANSPORT",
        format!("tcp://127.0.0.1:{}", closed_port()),
    ));
    expect_pass(&out);
}

/// A fresh empty directory under the work dir (the vendor layer writes ./logs there).
fn fresh_dir(name: &str) -> PathBuf {
    let d = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn vendor_cpp_program_without_device() {
    let dir = fresh_dir("vendor-nodevice");
    let out = run(Command::new(vendor_test_exe())
        .arg("nodevice")
        .current_dir(&dir)
        .env_remove("OKC_LOG_DIR")
        .env(
            "OKC_TRANSPORT",
            format!("tcp://127.0.0.1:{}", closed_port()),
        ));
    expect_pass(&out);
    // Vendor log location, and both company names (UTF-8 and cp1254 bytes) arrived as text.
    // The journal lives beside the log (docs/JOURNAL.md).
    let logs: Vec<_> = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            !n.to_string_lossy().starts_with("okclink-journal-")
        })
        .collect();
    assert_eq!(logs.len(), 1);
    let log = logs[0].as_ref().unwrap();
    let name = log.file_name().into_string().unwrap();
    assert!(
        name.starts_with("TokenIntegrationHub_") && name.ends_with(".log"),
        "{name}"
    );
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(
        text.matches("company \"Şirket İstanbul\"").count(),
        2,
        "company names in the log:\n{text}"
    );
}

fn sim(cfg: SimConfig) -> SimServer {
    serve_tcp("127.0.0.1:0", cfg).unwrap()
}

/// The simulator printed exactly one successful receipt of 10.00 TL.
fn assert_one_sale(s: &SimServer) {
    let sales = s.sales();
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0].total, 1000);
    let info = String::from_utf8_lossy(&sales[0].sale_info).into_owned();
    assert!(info.contains("\"status\":0"), "{info}");
}

#[test]
fn c_program_sale_against_simulator_over_tcp() {
    let s = sim(SimConfig::x30tr());
    let out = run(Command::new(okc_test_exe())
        .arg("sale")
        .env("OKC_TRANSPORT", format!("tcp://{}", s.local_addr())));
    expect_pass(&out);
    assert_one_sale(&s);
    let info = String::from_utf8_lossy(&s.sales()[0].sale_info).into_owned();
    assert!(info.contains("b-c-1"), "{info}");
    s.shutdown();
}

#[test]
fn vendor_cpp_program_sale_x30tr_against_simulator_over_tcp() {
    let s = sim(SimConfig::x30tr());
    let dir = fresh_dir("vendor-sale-x30tr");
    let out = run(Command::new(vendor_test_exe())
        .arg("sale")
        .current_dir(&dir)
        .env("OKC_TRANSPORT", format!("tcp://{}", s.local_addr())));
    expect_pass(&out);
    assert_one_sale(&s);
    // The UTF-8 item name reached the device as Windows-1254 ("Ş" = 0xDE).
    let basket = s
        .received()
        .into_iter()
        .find(|r| r.tag == 1)
        .expect("basket received");
    assert!(
        basket.payload.windows(5).any(|w| w == b"\xDEeker"),
        "{basket:?}"
    );
    // deleteCommunication sent DISCONNECT (type 7), once per connection.
    let sevens = s.received_types().iter().filter(|&&t| t == 7).count();
    assert!(sevens >= 2, "{:?}", s.received_types());
    s.shutdown();
}

#[test]
fn vendor_cpp_program_sale_300tr_against_simulator_over_tcp() {
    let s = sim(SimConfig::t300tr());
    let dir = fresh_dir("vendor-sale-300tr");
    let out = run(Command::new(vendor_test_exe())
        .arg("sale")
        .current_dir(&dir)
        .env(
            "OKC_TRANSPORT",
            format!("tcp://{}?model=300tr", s.local_addr()),
        ));
    expect_pass(&out);
    assert_one_sale(&s);
    // The 300TR path: ACK request (11) before the basket (1), then the payment (10).
    let types = s.received_types();
    let pos = |t: u16| types.iter().position(|&x| x == t);
    assert!(pos(11).unwrap() < pos(1).unwrap(), "{types:?}");
    assert!(pos(1).unwrap() < pos(10).unwrap(), "{types:?}");
    s.shutdown();
}

#[test]
fn vendor_cpp_program_sees_minus_one_when_the_300tr_does_not_ack() {
    let mut cfg = SimConfig::t300tr();
    cfg.faults.ignore_ack = true;
    let s = sim(cfg);
    let dir = fresh_dir("vendor-noack");
    let out = run(Command::new(vendor_test_exe())
        .arg("noack")
        .current_dir(&dir)
        .env(
            "OKC_TRANSPORT",
            format!("tcp://{}?model=300tr", s.local_addr()),
        ));
    expect_pass(&out);
    assert_eq!(s.sales_count(), 0);
    assert!(
        !s.received_types().contains(&1),
        "no basket after a missing ACK"
    );
    s.shutdown();
}

//! The support console (`GET /`) in a real headless Chromium, driven through chromedriver
//! (WebDriver, the `fantoccini` client) against `okc serve` in process with the ÖKC simulator
//! (X30TR) and the nexo terminal simulator: the page loads, shows the simulator's fiscal serial
//! and fiscal info, a test basket becomes a receipt row the journal has as answered, its sale
//! info shows up in the live events, a test payment is approved. A screenshot is written to
//! `$OKC_CONSOLE_SCREENSHOT` (default `<target>/ci-artifacts/console.png`; on a failure
//! `console-failure.png` beside it).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/install-console.sh`); run by
//! `.ci/test-console.sh`. `OKC_CHROMIUM` / `OKC_CHROMEDRIVER` name other binaries.
//! Everything stays on loopback.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

mod common;

/// How long to wait for anything (a page element, chromedriver, an answer).
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver and the Chromium it starts, for one test. Dropping it (also when the test
/// panics) kills chromedriver's process group and every process still using this test's
/// profile directory, then removes that directory.
struct Browser {
    driver: Child,
    profile: PathBuf,
    log: PathBuf,
    port: u16,
}

/// `$env`, else the first of `names` on the PATH.
fn find_program(env: &str, names: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("none of {names:?} on the PATH (or set {env}): run .ci/install-console.sh")
        })
}

impl Browser {
    /// Starts chromedriver on a free loopback port; `work` holds its log and the profile.
    fn start(work: &Path) -> Browser {
        let chromedriver = find_program("OKC_CHROMEDRIVER", &["chromedriver"]);
        let _ = std::fs::remove_dir_all(work);
        std::fs::create_dir_all(work).expect("test work directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log = work.join("chromedriver.log");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut b = Browser {
            driver,
            profile: work.join("profile"),
            log,
            port,
        };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = b.driver.try_wait() {
                panic!(
                    "chromedriver ended ({st}) before listening:\n{}",
                    b.log_tail()
                );
            }
            if t0.elapsed() > WAIT {
                panic!(
                    "chromedriver not listening on port {port} after {WAIT:?}:\n{}",
                    b.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    /// A WebDriver session: headless Chromium with a fresh profile, nothing reaching out.
    async fn session(&self) -> Client {
        let chromium = find_program(
            "OKC_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-proxy-server",
            "--window-size=1280,1100",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", self.profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({"goog:chromeOptions": {"binary": chromium, "args": args}});
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        // Plain HTTP to chromedriver on loopback: no TLS connector needed.
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("no browser session: {e}\n{}", self.log_tail()))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "(last lines of {})\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pgid = self.driver.id() as libc::pid_t;
        // SAFETY: plain kill(2) of the process group this test created (chromedriver's).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A Chromium helper that left the group still names the profile on its command line.
        let profile = self.profile.to_string_lossy().into_owned();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<libc::pid_t>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&profile) {
                // SAFETY: kill(2) of a process started by this test's chromedriver.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The server's answer to `GET path` (status, JSON body).
async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    get_with(addr, path, None).await
}

/// The same with an API token (`Authorization: Bearer`).
async fn get_with(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = common::client()
        .get(format!("http://{addr}{path}"))
        .timeout(WAIT);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Evaluates `js` (a function body returning JSON) in the page until `ok` accepts the value;
/// fails after [`WAIT`] with the last value and the page's error area.
async fn wait_js(c: &Client, what: &str, js: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let v = c
            .execute(js, vec![])
            .await
            .unwrap_or_else(|e| panic!("{what}: script failed: {e}"));
        if ok(&v) {
            return v;
        }
        if t0.elapsed() > WAIT {
            let err = c
                .execute("return document.getElementById('error').innerText", vec![])
                .await
                .unwrap_or(Value::Null);
            panic!("{what}: still not there after {WAIT:?} (last value: {v}; the page's error area: {err})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const RECEIPT_ROWS: &str = "return Array.from(document.querySelectorAll('#receipts tr[data-basket-id]'), r => r.dataset.basketId)";

/// The fiscal serial the simulator reported (the server's status), once it connected.
async fn serial(addr: SocketAddr, token: Option<&str>) -> String {
    let t0 = Instant::now();
    loop {
        let (st, status) = get_with(addr, "/v1/status", token).await;
        assert_eq!(st, 200, "GET /v1/status: {status}");
        if let Some(s) = status["fiscal"]["serial"].as_str() {
            return s.to_string();
        }
        assert!(
            t0.elapsed() < WAIT,
            "the simulator did not connect: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the test checks, in the page the browser shows.
async fn scenario(c: &Client, addr: SocketAddr) {
    let serial = serial(addr, None).await;
    let (st, info) = get(addr, "/v1/fiscal/info").await;
    assert_eq!(st, 200, "GET /v1/fiscal/info: {info}");
    let section_names: Vec<String> = info["sections"]
        .as_array()
        .expect("sections in the fiscal info")
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect();
    assert!(!section_names.is_empty(), "{info}");

    c.goto(&format!("http://{addr}/"))
        .await
        .expect("open the console");
    wait_js(c, "the page's title", "return document.title", |v| {
        v.as_str().is_some_and(|t| t.contains("okclink"))
    })
    .await;
    wait_js(
        c,
        "#fiscal-serial showing the simulator's serial",
        "return document.getElementById('fiscal-serial').textContent",
        |v| v == &json!(serial),
    )
    .await;
    wait_js(
        c,
        "#fiscal-state connected",
        "return document.getElementById('fiscal-state').textContent",
        |v| v == "connected",
    )
    .await;
    // Every section name as the device has it, Turkish letters included (FİYAT FARKI, POŞET).
    wait_js(
        c,
        "the fiscal info's section names in #sections",
        "return Array.from(document.querySelectorAll('#sections tr'), r => r.cells[1] ? r.cells[1].textContent : null)",
        |v| v == &json!(section_names),
    )
    .await;
    wait_js(
        c,
        "PLUs in #plus",
        "return document.querySelectorAll('#plus tr td + td').length",
        |v| v.as_u64().unwrap_or(0) > 0,
    )
    .await;
    wait_js(
        c,
        "the event stream open",
        "return document.getElementById('events-state').textContent",
        |v| v == "live",
    )
    .await;
    let before = wait_js(c, "#receipts", RECEIPT_ROWS, |v| v.is_array()).await;

    // A test basket: a new receipt row, answered in the journal, its sale info as an event.
    c.find(Locator::Id("send-test-basket"))
        .await
        .expect("#send-test-basket")
        .click()
        .await
        .expect("click #send-test-basket");
    let after = wait_js(c, "a new row in #receipts", RECEIPT_ROWS, |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|id| !before.as_array().unwrap().contains(id)))
    })
    .await;
    let new: Vec<&str> = after
        .as_array()
        .unwrap()
        .iter()
        .filter(|id| !before.as_array().unwrap().contains(id))
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(new.len(), 1, "one new receipt row: {after}");
    let basket_id = new[0].to_string();
    assert!(basket_id.starts_with("console-"), "{basket_id}");
    let (st, basket) = get(addr, &format!("/v1/fiscal/baskets/{basket_id}")).await;
    assert_eq!(st, 200, "GET /v1/fiscal/baskets/{basket_id}: {basket}");
    assert_eq!(basket["state"], "answered", "{basket}");
    assert_eq!(basket["saleInfo"]["status"], 0, "{basket}");
    wait_js(
        c,
        "the basket's sale-info event in #events",
        &format!(
            "return Array.from(document.querySelectorAll('#events li[data-event=\"sale-info\"]'))\
             .some(li => li.textContent.includes({}))",
            json!(basket_id)
        ),
        |v| v == true,
    )
    .await;

    // A test payment against the terminal simulator.
    c.find(Locator::Id("run-test-payment"))
        .await
        .expect("#run-test-payment")
        .click()
        .await
        .expect("click #run-test-payment");
    let shown = wait_js(
        c,
        "an approved result in #payment-result",
        "const e = document.getElementById('payment-result'); \
         return e.dataset.approved ? [e.dataset.approved, e.innerText] : null",
        |v| !v.is_null(),
    )
    .await;
    assert_eq!(shown[0], "true", "#payment-result: {}", shown[1]);
    assert!(
        shown[1].as_str().is_some_and(|t| t.contains("APPROVED")),
        "{shown}"
    );

    // Nothing went wrong on the way.
    let error = c
        .execute(
            "const e = document.getElementById('error'); return e.hidden ? null : e.innerText",
            vec![],
        )
        .await
        .expect("read #error");
    assert!(error.is_null(), "the page shows an error: {error}");
}

/// Runs `scenario` against a fresh `okc serve` (simulated ÖKC and terminal; `extra` merged
/// into its configuration) in a fresh Chromium, then writes a screenshot: `shot` in the
/// artifact directory on success (if given), `NAME-failure.png` on a failure. Chromium,
/// chromedriver and the server are stopped either way.
async fn run<F, Fut>(name: &str, extra: Value, shot: Option<&str>, scenario: F)
where
    F: FnOnce(Client, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let work = tmp.join(name);
    // $OKC_CONSOLE_SCREENSHOT names the main screenshot; the others go beside it.
    let main_shot = std::env::var_os("OKC_CONSOLE_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.parent().unwrap_or(tmp).join("ci-artifacts/console.png"));
    let browser = Browser::start(&work);
    let mut config = json!({
        "fiscal": {"transport": "sim", "journal": work.join("journal.sqlite")},
        "payment": {"terminal": "sim"},
    });
    // One level deep: `{"fiscal": {"transport": …}}` keeps the journal.
    for (k, v) in extra.as_object().expect("extra configuration") {
        match (config[k].as_object_mut(), v.as_object()) {
            (Some(base), Some(more)) => base.extend(more.clone()),
            _ => config[k] = v.clone(),
        }
    }
    let server = common::start(config);
    let addr = server.addr();

    let c = browser.session().await;
    let outcome = tokio::spawn(scenario(c.clone(), addr)).await;
    let path = match (&outcome, shot) {
        (Ok(()), Some(f)) => Some(main_shot.with_file_name(f)),
        (Ok(()), None) => None,
        (Err(_), _) => Some(main_shot.with_file_name(format!("{name}-failure.png"))),
    };
    if let Some(path) = path {
        match c.screenshot().await {
            Ok(png) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).expect("screenshot directory");
                }
                std::fs::write(&path, png).expect("write the screenshot");
                eprintln!("screenshot: {}", path.display());
            }
            Err(e) => eprintln!("no screenshot: {e}"),
        }
    }
    let _ = c.close().await;
    drop(browser);
    common::stop(server);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium + chromedriver: run .ci/test-console.sh"]
async fn console_in_chromium() {
    let shot = std::env::var_os("OKC_CONSOLE_SCREENSHOT")
        .and_then(|p| {
            PathBuf::from(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "console.png".into());
    run("console", json!({}), Some(&shot), |c, addr| async move {
        scenario(&c, addr).await
    })
    .await;
}

/// On a 300TR the test basket goes without its payment, then the cash payment on its own
/// (`POST /v1/fiscal/payments`): the same receipt row, answered basket and sale-info event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium + chromedriver: run .ci/test-console.sh"]
async fn console_on_a_300tr() {
    run(
        "console-300tr",
        json!({"fiscal": {"transport": "sim:300tr"}}),
        None,
        |c, addr| async move {
            let (st, status) = get(addr, "/v1/status").await;
            assert_eq!(st, 200);
            assert_eq!(status["fiscal"]["transport"], "sim:300tr", "{status}");
            scenario(&c, addr).await
        },
    )
    .await;
}

/// With an API token the page, opened once as `/?token=…`, loads its assets, the status and
/// the event stream with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium + chromedriver: run .ci/test-console.sh"]
async fn console_with_api_token() {
    // Characters a URL must escape (a header cannot carry non-ASCII: RFC 9110 field values).
    const TOKEN: &str = "console test+token/=&?";
    run(
        "console-token",
        json!({"token": TOKEN}),
        None,
        |c, addr| async move {
            let (st, body) = get(addr, "/v1/status").await;
            assert_eq!(st, 401, "without the token: {body}");
            let (st, body) = get(addr, "/console/console.js").await;
            assert_eq!(st, 401, "an asset without the token: {body}");
            let serial = serial(addr, Some(TOKEN)).await;
            let q: String = TOKEN
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            c.goto(&format!("http://{addr}/?token={q}"))
                .await
                .expect("open the console with ?token=");
            wait_js(
                &c,
                "#fiscal-serial filled in",
                "return document.getElementById('fiscal-serial').textContent",
                |v| v == &json!(serial),
            )
            .await;
            wait_js(
                &c,
                "the stylesheet applied",
                "return getComputedStyle(document.querySelector('header')).display",
                |v| v == "flex",
            )
            .await;
            wait_js(
                &c,
                "the event stream open",
                "return document.getElementById('events-state').textContent",
                |v| v == "live",
            )
            .await;
            wait_js(
                &c,
                "sections in #sections",
                "return document.querySelectorAll('#sections tr td + td').length",
                |v| v.as_u64().unwrap_or(0) > 0,
            )
            .await;
            let error = c
                .execute(
                    "const e = document.getElementById('error'); return e.hidden ? null : e.innerText",
                    vec![],
                )
                .await
                .expect("read #error");
            assert!(error.is_null(), "the page shows an error: {error}");
        },
    )
    .await;
}

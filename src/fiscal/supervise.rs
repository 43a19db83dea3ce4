//! Supervised threads: every thread of a connection object runs its body under a panic
//! barrier. A panic is logged and handed to the body again as `Some(message)`, which decides
//! how to recover (the link threads report their link lost, the session thread drops its
//! link and reports `(false, "")`, the dispatcher and discovery just go on). `close` waits
//! (bounded) for all of them through the live-thread counter.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::log::Logger;
use crate::config::LogLevel;

/// The live threads of one connection object.
#[derive(Clone)]
pub(crate) struct Threads(Arc<Live>);

struct Live {
    count: Mutex<usize>,
    cond: Condvar,
}

struct LiveGuard(Arc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut c = self.0.count.lock();
        *c -= 1;
        self.0.cond.notify_all();
    }
}

/// The message of a panic payload (`&str` or `String`; anything else is named as such).
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

impl Threads {
    pub(crate) fn new() -> Threads {
        Threads(Arc::new(Live {
            count: Mutex::new(0),
            cond: Condvar::new(),
        }))
    }

    /// Start thread `name` running `body(None)`; after a panic, log it and run
    /// `body(Some(panic message))` again. The thread ends when `body` returns.
    pub(crate) fn spawn_supervised(
        &self,
        name: &str,
        log: Arc<Logger>,
        mut body: impl FnMut(Option<String>) + Send + 'static,
    ) -> std::io::Result<ThreadId> {
        *self.0.count.lock() += 1;
        let guard = LiveGuard(self.0.clone());
        let thread_name = name.to_string();
        let h = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let _g = guard;
                let mut panicked = None;
                loop {
                    match catch_unwind(AssertUnwindSafe(|| body(panicked.take()))) {
                        Ok(()) => break,
                        Err(p) => {
                            let text = panic_text(&*p);
                            log.log(
                                LogLevel::Error,
                                "Supervisor",
                                &format!("thread {thread_name} panicked ({text}); recovering"),
                            );
                            panicked = Some(text);
                        }
                    }
                }
            })?;
        // On spawn failure the closure (and the guard inside it) is dropped: the count is
        // restored.
        Ok(h.thread().id())
    }

    /// Wait until at most `allowed` threads are alive or `deadline` passes.
    pub(crate) fn wait(&self, allowed: usize, deadline: Instant) -> bool {
        let mut c = self.0.count.lock();
        while *c > allowed {
            if self.0.cond.wait_until(&mut c, deadline).timed_out() {
                return *c <= allowed;
            }
        }
        true
    }
}

/// A crash point (no-op unless built with `test-hooks`): see `hooks::crash_point`.
#[cfg(feature = "test-hooks")]
pub(crate) use hooks::crash_point;

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
#[allow(dead_code)] // unused in builds without the journal
pub(crate) fn crash_point(_name: &str) {}

/// Panic injection for the supervision tests and crash points for the crash harness
/// (feature `test-hooks`; never in shipped builds).
#[cfg(feature = "test-hooks")]
pub mod hooks {
    use parking_lot::Mutex;

    static ARMED: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// The next time a thread named `thread_name` (`okc-session`, `okc-reader`,
    /// `okc-writer`, `okc-discovery`, `okc-callbacks`) passes its check point, it panics.
    pub fn panic_next(thread_name: &str) {
        ARMED.lock().push(thread_name.to_string());
    }

    /// Whether an armed panic is still waiting for its thread.
    pub fn pending() -> usize {
        ARMED.lock().len()
    }

    /// A crash point for the crash harness (tests/crash.rs): when the environment variable
    /// `OKC_CRASH_AT` is `NAME` or `NAME@N`, the process SIGKILLs itself the first (N-th)
    /// time it passes the point `NAME` — no destructor, no flush, as a power cut or a
    /// killed POS. Names: docs/JOURNAL.md § Crash harness.
    pub fn crash_point(name: &str) {
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::OnceLock;
        static AT: OnceLock<Option<(String, u32)>> = OnceLock::new();
        static HITS: AtomicU32 = AtomicU32::new(0);
        let at = AT.get_or_init(|| {
            let v = std::env::var("OKC_CRASH_AT").ok()?;
            let (n, k) = match v.split_once('@') {
                Some((n, k)) => (n.to_string(), k.parse().unwrap_or(1)),
                None => (v, 1),
            };
            Some((n, k))
        });
        let Some((point, nth)) = at else { return };
        if point != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
            return;
        }
        eprintln!("okc-crash-point {name}");
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    pub(crate) fn maybe_panic(thread_name: &str) {
        let hit = {
            let mut a = ARMED.lock();
            match a.iter().position(|n| n == thread_name) {
                Some(i) => {
                    a.remove(i);
                    true
                }
                None => false,
            }
        };
        if hit {
            panic!("injected panic in {thread_name} (test)");
        }
    }
}

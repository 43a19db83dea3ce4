//! The small tokio runtime a network back end owns (TokenX cloud, nexo terminal, GP tom
//! cloud): one worker thread named after the back end, calls from the POS's threads handed to
//! it and waited for on a channel (so they work from any thread — a callback, another tokio
//! runtime), and a bounded shutdown. One owner of these rules for every back end.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use parking_lot::Mutex;

/// Why [`BackendRuntime::run`] has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunError {
    /// The wait ended first (the future goes on and its result is dropped).
    Timeout,
    /// The runtime is shut down.
    Closed,
}

pub(crate) struct BackendRuntime {
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
}

impl BackendRuntime {
    /// One worker thread `name`, at most two blocking threads (DNS), timers and sockets.
    pub(crate) fn new(name: &str) -> std::io::Result<BackendRuntime> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name(name)
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        Ok(BackendRuntime {
            rt: Mutex::new(Some(rt)),
            handle,
        })
    }

    // The GP tom back end only runs futures; a build with it alone has no other user.
    #[cfg_attr(not(any(feature = "tokenx", feature = "nexo")), allow(dead_code))]
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.rt.lock().is_none()
    }

    /// Run `fut` on the runtime and wait for its output, up to `wait` (None: as long as it
    /// takes).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
        wait: Option<Duration>,
    ) -> Result<T, RunError> {
        if self.is_closed() {
            return Err(RunError::Closed);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match wait {
            Some(w) => rx.recv_timeout(w).map_err(|e| match e {
                mpsc::RecvTimeoutError::Timeout => RunError::Timeout,
                mpsc::RecvTimeoutError::Disconnected => RunError::Closed,
            }),
            None => rx.recv().map_err(|_| RunError::Closed),
        }
    }

    /// Stop every task and thread, waiting at most `bound` (not at all when called from
    /// inside a tokio runtime, where blocking is not allowed). Idempotent.
    pub(crate) fn shutdown(&self, bound: Duration) {
        if let Some(rt) = self.rt.lock().take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(bound);
            }
        }
    }
}

impl Drop for BackendRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.lock().take() {
            rt.shutdown_background();
        }
    }
}

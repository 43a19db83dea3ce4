//! Checkpoints off the sale path.
//!
//! In WAL mode SQLite copies the log back into the database file (a checkpoint: writes and two
//! fsyncs) in whichever commit makes the log pass 1 000 pages — by default inside a sale's
//! commit, a spike on its critical path every few dozen sales (PERFORMANCE.md § Journal). The
//! journal's own connection turns that off (`wal_autocheckpoint = 0`) and this thread, with a
//! connection of its own, runs a `PASSIVE` checkpoint (it never blocks a writer or a reader)
//! after every [`CHECKPOINT_AFTER_COMMITS`] commits. It sleeps on a condition variable in
//! between: an idle journal costs no wake-ups. When the journal is dropped the thread ends and
//! SQLite checkpoints on the last close as always.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, OpenFlags};

/// Commits between two checkpoints. A sale writes 4–8 pages per commit, so this keeps the
/// log around SQLite's default size (1 000 pages, ~4 MB) without checkpointing per sale.
pub(super) const CHECKPOINT_AFTER_COMMITS: u32 = 200;

/// A checkpoint that left frames behind (written while it ran) is run again after
/// `CATCH_UP_PAUSE`, at most `CATCH_UP_TRIES` times in all.
const CATCH_UP_TRIES: usize = 20;
const CATCH_UP_PAUSE: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    commits: u32,
    closing: bool,
    /// Checkpoints run (for the tests).
    done: u64,
}

pub(super) struct Checkpointer {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens the checkpoint connection and starts the thread; `None` if either fails (the
    /// caller then keeps SQLite's automatic checkpoints).
    pub(super) fn start(path: &Path, busy_timeout: Duration) -> Option<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        conn.busy_timeout(busy_timeout).ok()?;
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("okc-journal-checkpoint".into())
            .spawn(move || run(&conn, &s))
            .ok()?;
        Some(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// One more commit on the journal's connection.
    pub(super) fn committed(&self) {
        let (m, cv) = &*self.shared;
        let mut st = m.lock();
        st.commits += 1;
        if st.commits >= CHECKPOINT_AFTER_COMMITS {
            cv.notify_one();
        }
    }

    /// Checkpoints run so far.
    #[cfg(test)]
    pub(super) fn done(&self) -> u64 {
        self.shared.0.lock().done
    }
}

fn run(conn: &Connection, shared: &(Mutex<State>, Condvar)) {
    let (m, cv) = shared;
    loop {
        {
            let mut st = m.lock();
            while st.commits < CHECKPOINT_AFTER_COMMITS && !st.closing {
                cv.wait(&mut st);
            }
            if st.closing {
                return;
            }
            st.commits = 0;
        }
        // PASSIVE: copies what no reader still needs, never waits for a lock. Frames written
        // while it ran are left over: ask again shortly (a few times) until the log is copied
        // whole, so the next write starts the log from the beginning instead of growing it.
        // A failure (busy, disk) is retried with the next round; the log only grows meanwhile.
        for _ in 0..CATCH_UP_TRIES {
            let whole = conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok(r.get::<_, i64>(0)? == 0 && r.get::<_, i64>(1)? == r.get::<_, i64>(2)?)
                })
                .unwrap_or(false);
            if whole || m.lock().closing {
                break;
            }
            std::thread::sleep(CATCH_UP_PAUSE);
        }
        m.lock().done += 1;
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.0.lock().closing = true;
        self.shared.1.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

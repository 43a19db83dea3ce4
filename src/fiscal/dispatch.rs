//! The dispatcher: the one thread (`okc-callbacks`) that runs the user's callbacks, in order,
//! never while the library holds a lock. Back ends only queue work here; the front owns it.
//!
//! - [`Dispatcher::serial_in`] / [`Dispatcher::state`] queue callbacks;
//!   `set_device_state_callback` queues a replay of the last state (vendor behaviour, but on
//!   this thread, in order with live events, never twice to one callback).
//! - [`Dispatcher::after_queued`] is the ordering rule: run something (typically: answer a
//!   waiting API caller) only after every callback queued before it has run. Called from the
//!   dispatcher thread itself it runs at once (it cannot wait for itself).
//! - `close` stops callbacks: none starts after it returns, and it waits (bounded) for one
//!   that is running, unless it is called from inside a callback.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

#[cfg(feature = "journal")]
use super::journal::{CommitGate, FiscalJournal, SaleRecord};
use super::log::Logger;
use super::supervise::Threads;
use super::{DeviceStateFn, SerialInFn};
use crate::config::LogLevel;

pub(crate) enum Job {
    SerialIn(i32, String),
    /// A sale info (type 3) recorded in the journal (entry id, None when recording failed):
    /// delivered, then marked delivered. `force`: also when this process delivered it
    /// already (the application sent its basket again); otherwise once per process.
    ///
    /// `gate`: the record's commit (a sale info that just arrived is queued before its
    /// commit ends): it is marked delivered only once that commit succeeded.
    #[cfg(feature = "journal")]
    Sale {
        id: Option<i64>,
        sale: String,
        force: bool,
        gate: Option<Arc<CommitGate>>,
    },
    /// Deliver the journal's unconfirmed sale infos not yet delivered by this process.
    #[cfg(feature = "journal")]
    Redeliver,
    State(bool, String),
    /// Replay the last state to the state callback of this generation.
    Replay(u64),
    /// Run after every job queued before it.
    After(Box<dyn FnOnce() + Send>),
    Stop,
}

/// Callbacks and the gate that keeps them from starting after `close`.
struct Gate {
    closed: bool,
    running: bool,
    serial: Option<Arc<SerialInFn>>,
    state: Option<(u64, Arc<DeviceStateFn>)>,
    next_gen: u64,
}

pub struct Dispatcher {
    tx: Sender<Job>,
    thread: Mutex<Option<ThreadId>>,
    gate: Mutex<Gate>,
    gate_cond: Condvar,
    log: Arc<Logger>,
    #[cfg(feature = "journal")]
    journal: Option<Arc<FiscalJournal>>,
}

/// State the dispatcher thread keeps across jobs (and across a restart after a panic).
#[derive(Default)]
struct Replay {
    last_state: Option<(bool, String)>,
    /// Generation of the state callback that has already received a state (no replay then).
    delivered_gen: u64,
    /// Journal entries of the sale infos delivered by this process (not again on a
    /// re-delivery after `set_serial_in_callback`).
    #[cfg(feature = "journal")]
    delivered_sales: std::collections::HashSet<i64>,
}

impl Dispatcher {
    /// Start the dispatcher thread (supervised: a panic in the dispatcher's own code is
    /// logged and the loop goes on; user callbacks are guarded separately).
    pub(crate) fn start(
        log: Arc<Logger>,
        threads: &Threads,
        #[cfg(feature = "journal")] journal: Option<Arc<FiscalJournal>>,
    ) -> std::io::Result<Arc<Dispatcher>> {
        let (tx, rx) = channel::<Job>();
        let d = Arc::new(Dispatcher {
            tx,
            thread: Mutex::new(None),
            gate: Mutex::new(Gate {
                closed: false,
                running: false,
                serial: None,
                state: None,
                next_gen: 1,
            }),
            gate_cond: Condvar::new(),
            log,
            #[cfg(feature = "journal")]
            journal,
        });
        let d2 = d.clone();
        let mut replay = Replay::default();
        let h = threads.spawn_supervised("okc-callbacks", d.log.clone(), move |_panicked| {
            d2.run(&rx, &mut replay)
        })?;
        *d.thread.lock() = Some(h);
        Ok(d)
    }

    /// Whether the calling thread is the dispatcher (i.e. inside a callback).
    pub fn on_callback_thread(&self) -> bool {
        *self.thread.lock() == Some(thread::current().id())
    }

    /// Queue a serialIn callback. A sale info (type 3) is first recorded in the journal, on
    /// the caller's thread: the wired driver queues the device's "OK" only after this
    /// returns, so a sale info is on disk before the device may forget it. Its callback is
    /// queued before that commit's fsync (it runs meanwhile) and marked delivered after it.
    pub(crate) fn serial_in(&self, t: i32, v: String) {
        #[cfg(feature = "journal")]
        if let (1, Some(j)) = (t, &self.journal) {
            j.basket_reply(&v);
        }
        #[cfg(feature = "journal")]
        if let (3, Some(j)) = (t, &self.journal) {
            let queue = |id, gate| {
                let _ = self.tx.send(Job::Sale {
                    id: Some(id),
                    sale: v.clone(),
                    force: false,
                    gate: Some(gate),
                });
            };
            if let SaleRecord::Unrecorded = j.record_sale(&v, queue) {
                let _ = self.tx.send(Job::Sale {
                    id: None,
                    sale: v,
                    force: false,
                    gate: None,
                });
            }
            return;
        }
        let _ = self.tx.send(Job::SerialIn(t, v));
    }

    /// Deliver a recorded sale info again (a known `basketID` sent again, not confirmed).
    #[cfg(feature = "journal")]
    pub(crate) fn redeliver(&self, id: i64, v: String) {
        let _ = self.tx.send(Job::Sale {
            id: Some(id),
            sale: v,
            force: true,
            gate: None,
        });
    }

    pub(crate) fn state(&self, connected: bool, serial: String) {
        let _ = self.tx.send(Job::State(connected, serial));
    }

    /// Run `f` once every callback queued so far has run — at once when the caller it
    /// answers is the dispatcher thread itself (`caller_in_callback`, taken on the caller's
    /// thread), which would otherwise wait for itself. If the dispatcher is gone, `f` is
    /// dropped (a waiting caller sees its channel closed).
    pub(crate) fn after_queued(&self, f: Box<dyn FnOnce() + Send>, caller_in_callback: bool) {
        if caller_in_callback || self.on_callback_thread() {
            f();
        } else {
            let _ = self.tx.send(Job::After(f));
        }
    }

    pub(crate) fn set_serial_in(&self, cb: Option<SerialInFn>) {
        let has = cb.is_some();
        self.gate.lock().serial = cb.map(Arc::new);
        // Sale infos an earlier process (or this one, before a callback was set) recorded
        // but the application never confirmed: delivered now, in order with live ones.
        #[cfg(feature = "journal")]
        if has && self.journal.is_some() {
            let _ = self.tx.send(Job::Redeliver);
        }
        #[cfg(not(feature = "journal"))]
        let _ = has;
    }

    pub(crate) fn set_state(&self, cb: Option<DeviceStateFn>) {
        let mut g = self.gate.lock();
        let gen = g.next_gen;
        g.next_gen += 1;
        let has = cb.is_some();
        g.state = cb.map(|c| (gen, Arc::new(c)));
        drop(g);
        if has {
            let _ = self.tx.send(Job::Replay(gen));
        }
    }

    /// No callback starts after this returns; a running one is waited for until `deadline`
    /// (not when called from inside a callback). The thread then ends.
    pub(crate) fn close(&self, deadline: Instant) {
        let on_cb = self.on_callback_thread();
        {
            let mut g = self.gate.lock();
            g.closed = true;
            g.serial = None;
            g.state = None;
            if !on_cb {
                while g.running {
                    if self.gate_cond.wait_until(&mut g, deadline).timed_out() {
                        break;
                    }
                }
            }
        }
        let _ = self.tx.send(Job::Stop);
    }

    /// The dispatcher loop; returns when stopped (a panic escapes to the supervisor, which
    /// calls it again with the same receiver and replay state).
    fn run(&self, rx: &Receiver<Job>, r: &mut Replay) {
        loop {
            // Between jobs: an injected panic loses none.
            #[cfg(feature = "test-hooks")]
            super::supervise::hooks::maybe_panic("okc-callbacks");
            let Ok(job) = rx.recv() else { break };
            match job {
                Job::Stop => break,
                Job::After(f) => f(),
                #[cfg(feature = "journal")]
                Job::Sale {
                    id,
                    sale,
                    force,
                    gate,
                } => {
                    // A sale info the device repeats while the first delivery of this
                    // process is queued (or done) is delivered once.
                    if force || !id.is_some_and(|i| r.delivered_sales.contains(&i)) {
                        self.deliver_sale(r, id, &sale, gate.as_deref());
                    }
                }
                #[cfg(feature = "journal")]
                Job::Redeliver => {
                    if let Some(j) = &self.journal {
                        for (id, v) in j.undelivered() {
                            if !r.delivered_sales.contains(&id) {
                                self.deliver_sale(r, Some(id), &v, None);
                            }
                        }
                    }
                }
                Job::SerialIn(t, v) => {
                    if let Some(cb) = self.begin_serial() {
                        self.run_guarded("serialIn", || cb(t, &v));
                    }
                }
                Job::State(c, s) => {
                    r.last_state = Some((c, s.clone()));
                    if let Some((gen, cb)) = self.begin_state() {
                        r.delivered_gen = gen;
                        self.run_guarded("deviceState", || cb(c, &s));
                    }
                }
                Job::Replay(gen) => {
                    let Some((c, s)) = r.last_state.clone() else {
                        continue;
                    };
                    if r.delivered_gen == gen {
                        continue;
                    }
                    if let Some((g, cb)) = self.begin_state() {
                        if g == gen {
                            r.delivered_gen = gen;
                            self.log.log(
                                LogLevel::Debug,
                                "ConnectionWrapper",
                                "Device State Callback Invoking (replay)",
                            );
                            self.run_guarded("deviceState", || cb(c, &s));
                        } else {
                            self.end_callback();
                        }
                    }
                }
            }
        }
        // Run what is still queued behind the stop: waiting callers are answered (the
        // callbacks themselves are skipped, the gate is closed).
        while let Ok(job) = rx.try_recv() {
            if let Job::After(f) = job {
                f();
            }
        }
    }

    /// The serial-in callback, marked running, if one is set and the gate is open.
    fn begin_serial(&self) -> Option<Arc<SerialInFn>> {
        let mut g = self.gate.lock();
        match (&g.serial, g.closed) {
            (Some(cb), false) => {
                let cb = cb.clone();
                g.running = true;
                Some(cb)
            }
            _ => None,
        }
    }

    /// A recorded sale info to the callback; delivered (journal) once it returned normally
    /// and its record committed (`gate`). Without a callback it stays undelivered
    /// (delivered when one is set, or after a restart).
    #[cfg(feature = "journal")]
    fn deliver_sale(&self, r: &mut Replay, id: Option<i64>, v: &str, gate: Option<&CommitGate>) {
        let Some(cb) = self.begin_serial() else {
            return;
        };
        let ok = self.run_guarded("serialIn", || cb(3, v));
        if let (true, Some(id), Some(j)) = (ok, id, &self.journal) {
            if gate.map_or(true, CommitGate::wait) {
                r.delivered_sales.insert(id);
                j.delivered(id);
            }
        }
    }

    fn begin_state(&self) -> Option<(u64, Arc<DeviceStateFn>)> {
        let mut g = self.gate.lock();
        if g.closed {
            return None;
        }
        let r = g.state.clone();
        if r.is_some() {
            g.running = true;
        }
        r
    }

    fn end_callback(&self) {
        let mut g = self.gate.lock();
        g.running = false;
        self.gate_cond.notify_all();
    }

    /// Run a user callback (gate already marked running), with no lock held; a panic is
    /// caught and logged so the dispatcher lives on.
    /// Returns whether it returned normally.
    fn run_guarded(&self, what: &str, f: impl FnOnce()) -> bool {
        let ok = catch_unwind(AssertUnwindSafe(f)).is_ok();
        if !ok {
            self.log.log(
                LogLevel::Error,
                "ConnectionWrapper",
                &format!("{what} callback panicked"),
            );
        }
        self.end_callback();
        ok
    }
}

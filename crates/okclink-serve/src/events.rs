//! The event stream: every event gets an id from the event log — the journal's `events`
//! table when a journal is configured (durable: a client resumes across restarts), else an
//! in-memory ring with the same id rules (resume works while the process lives) — and is
//! broadcast to the `/events` clients. `GET /events` with `Last-Event-ID: N` first sends
//! every logged event after `N`, then the live ones, each exactly once and in id order.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::stream::{self, Stream};
use okclink::journal::Journal;
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use crate::app::App;

/// Events kept by the in-memory ring (no journal).
pub const RING_CAPACITY: usize = 10_000;
/// Live events buffered per client before it must catch up from the log.
const CHANNEL_CAPACITY: usize = 4096;
/// Events read from the log per batch while a client catches up.
const BATCH: usize = 500;
/// A comment line every so often keeps proxies and browsers from closing an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub json: String,
}

enum Store {
    Journal(Arc<Journal>),
    Memory(Mutex<Ring>),
}

#[derive(Default)]
struct Ring {
    last: i64,
    items: VecDeque<Arc<Event>>,
}

/// The event log and its broadcast.
pub struct EventHub {
    store: Store,
    /// Held while an event gets its id and is broadcast: the broadcast order is the id order.
    order: Mutex<()>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl EventHub {
    pub fn new(journal: Option<Arc<Journal>>) -> EventHub {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        EventHub {
            store: match journal {
                Some(j) => Store::Journal(j),
                None => Store::Memory(Mutex::new(Ring::default())),
            },
            order: Mutex::new(()),
            tx,
        }
    }

    /// Whether ids survive a restart (a journal is configured).
    pub fn durable(&self) -> bool {
        matches!(self.store, Store::Journal(_))
    }

    /// Logs and broadcasts an event; its id, or None when the journal refused it (logged).
    /// Blocks on the journal's write: call it off the async runtime.
    pub fn publish(&self, kind: &str, json: String) -> Option<i64> {
        let _order = self.order.lock();
        let id = match &self.store {
            Store::Journal(j) => match j.append_event(kind, &json) {
                Ok(id) => id,
                Err(e) => {
                    eprintln!("okc serve: event {kind} not logged: {e}");
                    return None;
                }
            },
            Store::Memory(r) => {
                let mut r = r.lock();
                r.last += 1;
                let id = r.last;
                r.items.push_back(Arc::new(Event {
                    id,
                    kind: kind.to_string(),
                    json: json.clone(),
                }));
                if r.items.len() > RING_CAPACITY {
                    r.items.pop_front();
                }
                id
            }
        };
        let _ = self.tx.send(Arc::new(Event {
            id,
            kind: kind.to_string(),
            json,
        }));
        Some(id)
    }

    /// Up to `limit` logged events after `id`, oldest first (blocking).
    pub fn after(&self, id: i64, limit: usize) -> Vec<Arc<Event>> {
        match &self.store {
            Store::Journal(j) => match j.events_after(id, limit) {
                Ok(rows) => rows
                    .into_iter()
                    .map(|r| {
                        Arc::new(Event {
                            id: r.id,
                            kind: r.kind,
                            json: r.json,
                        })
                    })
                    .collect(),
                Err(e) => {
                    eprintln!("okc serve: cannot read the event log: {e}");
                    Vec::new()
                }
            },
            Store::Memory(r) => r
                .lock()
                .items
                .iter()
                .filter(|e| e.id > id)
                .take(limit)
                .cloned()
                .collect(),
        }
    }

    /// The newest event's id (0: none).
    pub fn last_id(&self) -> i64 {
        let _order = self.order.lock();
        match &self.store {
            Store::Journal(j) => j.last_event_id().unwrap_or(0),
            Store::Memory(r) => r.lock().last,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// How many `/events` clients are connected.
    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// `GET /events` query: `lastEventId` for a browser's first connect (an `EventSource` cannot
/// set the header then), `token` (checked by the security layer).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id (the `Last-Event-ID` header wins).
    #[serde(rename = "lastEventId")]
    #[param(rename = "lastEventId")]
    pub last_event_id: Option<String>,
    /// The API token, for clients that cannot send a header.
    pub token: Option<String>,
}

struct Client {
    app: Arc<App>,
    rx: broadcast::Receiver<Arc<Event>>,
    shutdown: watch::Receiver<bool>,
    last: i64,
    backlog: VecDeque<Arc<Event>>,
    catch_up: bool,
}

fn to_sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(e.json.as_str())
}

fn events_stream(c: Client) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    stream::unfold(c, |mut c| async move {
        loop {
            if let Some(e) = c.backlog.pop_front() {
                c.last = e.id;
                return Some((Ok(to_sse(&e)), c));
            }
            if c.catch_up {
                let (app, after) = (c.app.clone(), c.last);
                let batch = tokio::task::spawn_blocking(move || app.events().after(after, BATCH))
                    .await
                    .unwrap_or_default();
                c.catch_up = batch.len() >= BATCH;
                c.backlog.extend(batch);
                continue;
            }
            if *c.shutdown.borrow() {
                return None;
            }
            tokio::select! {
                _ = c.shutdown.changed() => return None,
                r = c.rx.recv() => match r {
                    Ok(e) if e.id > c.last => {
                        c.last = e.id;
                        return Some((Ok(to_sse(&e)), c));
                    }
                    Ok(_) => {}
                    // Too slow: the rest comes from the log.
                    Err(broadcast::error::RecvError::Lagged(_)) => c.catch_up = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    })
}

/// `GET /events`: Server-sent events.
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(EventsQuery, ("Last-Event-ID" = Option<String>, Header, description = "resume after this event id")),
    responses((status = 200, description = "text/event-stream: `id:` (the event log's id), `event:` (device-state, sale-info, basket-state, terminal, payment-result, energy-order), `data:` JSON", content_type = "text/event-stream", body = String))
)]
pub async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> impl IntoResponse {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.last_event_id)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0);
    // Subscribe before reading the log: nothing falls between the two.
    let rx = app.events().subscribe();
    let last = match resume {
        Some(n) => n,
        None => {
            let a = app.clone();
            tokio::task::spawn_blocking(move || a.events().last_id())
                .await
                .unwrap_or(0)
        }
    };
    let c = Client {
        shutdown: app.shutdown_signal(),
        app,
        rx,
        last,
        backlog: VecDeque::new(),
        catch_up: resume.is_some(),
    };
    Sse::new(events_stream(c)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

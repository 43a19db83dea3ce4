//! The event log (schema version 3): what `okc serve` publishes as Server-sent events —
//! device state, sale infos, basket states, terminal events — one row each, in order. The
//! row id is the event's id (`id:` of the event stream): increasing and durable across
//! restarts, so a client that reconnects with `Last-Event-ID: N` is sent every event after
//! `N` from here. Rows older than the journal's retention go with [`Journal::prune`].

use rusqlite::{params, Connection};

use super::{now_ms, Journal, JournalError, Millis};

/// The longest `kind` accepted.
pub const MAX_KIND_LEN: usize = 64;

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// The event's id (the row id): increasing, never reused.
    pub id: i64,
    pub at: Millis,
    /// `device-state`, `sale-info`, `basket-state`, `terminal`, …
    pub kind: String,
    /// The event's data: JSON text.
    pub json: String,
}

impl Journal {
    /// Appends an event (its own committed transaction) and returns its id.
    pub fn append_event(&self, kind: &str, json: &str) -> Result<i64, JournalError> {
        if kind.is_empty() || kind.len() > MAX_KIND_LEN {
            return Err(JournalError::InvalidInput(format!(
                "an event kind must have 1 to {MAX_KIND_LEN} bytes (got {})",
                kind.len()
            )));
        }
        let c = self.conn.lock();
        c.prepare_cached("INSERT INTO events (at, kind, json) VALUES (?1, ?2, ?3)")
            .and_then(|mut st| st.execute(params![now_ms(), kind, json]))
            .map_err(|e| self.err(e))?;
        Ok(c.last_insert_rowid())
    }

    /// Up to `limit` events with an id greater than `after`, oldest first.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<EventRow>, JournalError> {
        let c = self.conn.lock();
        let mut st = c
            .prepare_cached(
                "SELECT id, at, kind, json FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = st
            .query_map(params![after, limit], |r| {
                Ok(EventRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    kind: r.get(2)?,
                    json: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The newest event's id (0: none yet).
    pub fn last_event_id(&self) -> Result<i64, JournalError> {
        let c = self.conn.lock();
        c.query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

/// The journal's prune: events older than the cut-off go too (in its transaction). The
/// AUTOINCREMENT keeps ids increasing after rows are deleted.
pub(super) fn prune_before(c: &Connection, cutoff: Millis) -> rusqlite::Result<usize> {
    c.prepare_cached("DELETE FROM events WHERE at < ?1")?
        .execute([cutoff])
}

#[cfg(test)]
mod tests {
    use super::super::Journal;

    #[test]
    fn events_are_appended_in_order_and_read_after_an_id() {
        let dir = std::env::temp_dir().join(format!("okc-journal-events-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let j = Journal::open(dir.join("events.sqlite")).unwrap();
        assert_eq!(j.last_event_id().unwrap(), 0);
        let a = j
            .append_event("device-state", r#"{"connected":true}"#)
            .unwrap();
        let b = j.append_event("sale-info", r#"{"basketID":"b"}"#).unwrap();
        assert!(b > a);
        let all = j.events_after(0, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].id, all[0].kind.as_str()), (a, "device-state"));
        assert_eq!(
            j.events_after(a, 10).unwrap()[0].json,
            r#"{"basketID":"b"}"#
        );
        assert!(j.events_after(b, 10).unwrap().is_empty());
        assert_eq!(j.events_after(0, 1).unwrap().len(), 1);
        assert!(j.append_event("", "{}").is_err());
        // Pruned with the journal's retention; ids are never reused.
        j.prune_before(super::now_ms() + 1).unwrap();
        assert!(j.events_after(0, 10).unwrap().is_empty());
        let c = j.append_event("sale-info", "{}").unwrap();
        assert!(c > b);
        assert_eq!(j.last_event_id().unwrap(), c);
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

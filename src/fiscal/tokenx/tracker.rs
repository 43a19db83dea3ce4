//! Which baskets the cloud back end is waiting for, and when to ask about each (sans-IO: the
//! caller passes `now`). The one exactly-once filter of the cloud back end: a result is
//! handed out by [`Tracker::finish`] the first time only, whether it came by webhook or by a
//! poll, and however often Token repeats it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::api::assumptions::{POLL_FIRST_INTERVAL, POLL_MAX_INTERVAL};

/// How many finished basket ids are remembered (per back end) to refuse repeats.
pub const DONE_MEMORY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Waiting {
    /// When the next `GET /v1/basket/{id}` is due.
    next_poll: Instant,
    /// The interval after the next poll (doubling up to the cap).
    interval: Duration,
    /// Whether the basket POST's outcome is unknown (lost answer and the check failed too).
    in_doubt: bool,
}

/// Open baskets, their poll schedule, and the finished ones.
#[derive(Debug)]
pub struct Tracker {
    poll_after: Duration,
    waiting: HashMap<String, Waiting>,
    done: HashSet<String>,
    done_order: VecDeque<String>,
}

impl Tracker {
    /// `poll_after`: how long a basket waits for its webhook before the first poll.
    pub fn new(poll_after: Duration) -> Tracker {
        Tracker {
            poll_after,
            waiting: HashMap::new(),
            done: HashSet::new(),
            done_order: VecDeque::new(),
        }
    }

    /// The cloud has the basket (created, or a re-send answered 1007): wait for its result.
    pub fn opened(&mut self, id: &str, now: Instant) {
        if self.done.contains(id) {
            return;
        }
        let w = self.waiting.entry(id.to_string()).or_insert(Waiting {
            next_poll: now + self.poll_after,
            interval: POLL_FIRST_INTERVAL,
            in_doubt: false,
        });
        w.in_doubt = false;
    }

    /// The basket POST's answer was lost and asking failed too: ask again soon.
    pub fn in_doubt(&mut self, id: &str, now: Instant) {
        if self.done.contains(id) {
            return;
        }
        let w = self.waiting.entry(id.to_string()).or_insert(Waiting {
            next_poll: now + POLL_FIRST_INTERVAL,
            interval: POLL_FIRST_INTERVAL,
            in_doubt: true,
        });
        w.in_doubt = true;
        w.next_poll = w.next_poll.min(now + POLL_FIRST_INTERVAL);
    }

    pub fn is_waiting(&self, id: &str) -> bool {
        self.waiting.contains_key(id)
    }

    pub fn is_in_doubt(&self, id: &str) -> bool {
        self.waiting.get(id).is_some_and(|w| w.in_doubt)
    }

    pub fn is_done(&self, id: &str) -> bool {
        self.done.contains(id)
    }

    /// The basket's result arrived: `true` the first time (deliver it), `false` for every
    /// repeat (a duplicate webhook, a poll after the webhook, a webhook after a poll).
    pub fn finish(&mut self, id: &str) -> bool {
        self.waiting.remove(id);
        if self.done.contains(id) {
            return false;
        }
        self.done.insert(id.to_string());
        self.done_order.push_back(id.to_string());
        while self.done_order.len() > DONE_MEMORY {
            if let Some(old) = self.done_order.pop_front() {
                self.done.remove(&old);
            }
        }
        true
    }

    /// Stop waiting without a result (deleted, unknown to the cloud, refused).
    pub fn forget(&mut self, id: &str) {
        self.waiting.remove(id);
    }

    /// The ids whose poll is due at `now`; each is rescheduled with back-off (2 → 4 → … →
    /// 60 s), so an open basket costs at most one request per interval.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for (id, w) in self.waiting.iter_mut() {
            if w.next_poll <= now {
                out.push(id.clone());
                w.next_poll = now + w.interval;
                w.interval = (w.interval * 2).min(POLL_MAX_INTERVAL);
            }
        }
        out.sort();
        out
    }

    /// A poll of `id` was throttled: not before `retry_after`.
    pub fn throttled(&mut self, id: &str, now: Instant, retry_after: Duration) {
        if let Some(w) = self.waiting.get_mut(id) {
            w.next_poll = w.next_poll.max(now + retry_after);
        }
    }

    /// When the next poll is due (None: nothing is waiting).
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.values().map(|w| w.next_poll).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_handed_out_once_whichever_way_it_comes() {
        let t0 = Instant::now();
        let mut t = Tracker::new(Duration::from_secs(120));
        t.opened("a", t0);
        assert!(t.is_waiting("a"));
        assert!(t.finish("a")); // webhook
        assert!(!t.finish("a")); // duplicate webhook
        t.opened("a", t0); // a late poll result must not re-open it
        assert!(!t.is_waiting("a"));
        assert!(!t.finish("a"));
        // a result for a basket this process never sent (before a restart) counts once too
        assert!(t.finish("b"));
        assert!(!t.finish("b"));
    }

    #[test]
    fn polls_start_after_the_webhook_wait_and_back_off() {
        let t0 = Instant::now();
        let mut t = Tracker::new(Duration::from_secs(10));
        t.opened("a", t0);
        assert_eq!(t.next_due(), Some(t0 + Duration::from_secs(10)));
        assert!(t.due(t0 + Duration::from_secs(9)).is_empty());
        let mut at = t0 + Duration::from_secs(10);
        let mut gaps = Vec::new();
        for _ in 0..8 {
            assert_eq!(t.due(at), vec!["a".to_string()]);
            let next = t.next_due().unwrap();
            gaps.push((next - at).as_secs());
            at = next;
        }
        assert_eq!(gaps, [2, 4, 8, 16, 32, 60, 60, 60]);
        t.throttled("a", at, Duration::from_secs(90));
        assert_eq!(t.next_due(), Some(at + Duration::from_secs(90)));
    }

    #[test]
    fn in_doubt_is_asked_about_soon_and_cleared_by_an_answer() {
        let t0 = Instant::now();
        let mut t = Tracker::new(Duration::from_secs(120));
        t.in_doubt("x", t0);
        assert!(t.is_in_doubt("x"));
        assert_eq!(t.next_due(), Some(t0 + POLL_FIRST_INTERVAL));
        t.opened("x", t0);
        assert!(!t.is_in_doubt("x"));
        t.forget("x");
        assert_eq!(t.next_due(), None);
    }

    #[test]
    fn the_done_memory_is_bounded() {
        let mut t = Tracker::new(Duration::ZERO);
        for i in 0..DONE_MEMORY + 10 {
            assert!(t.finish(&i.to_string()));
        }
        assert!(!t.is_done("0"));
        assert!(t.is_done(&(DONE_MEMORY + 9).to_string()));
    }
}

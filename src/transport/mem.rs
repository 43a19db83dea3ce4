//! In-memory link pair.
//!
//! Two [`MemLink`]s joined by a pair of channels. Each side writes byte chunks; the other
//! side re-assembles them into whole messages with [`MessageSplitter`], exactly like the TCP
//! link does with its byte stream, so a chunk may carry a partial message (the simulator's
//! "vanish mid-message" fault writes half a message and then drops its end).
//!
//! When one side is dropped (or its writer closed), the other side's `recv` returns
//! [`LinkError::Gone`] once everything already sent has been read, and its `send` fails with
//! `Gone`; the closing side's own blocked `recv` returns `Gone` at once, so the runtime's
//! reader can block without waking while the link idles. Both are explicit `Closed` items on
//! the channels (a channel stays connected while the other end's close can still wake it).

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::{DeviceModel, Incoming, Link, LinkError, LinkReader, LinkWriter};
use crate::proto::stream::MessageSplitter;

/// Largest whole message the in-memory reader accepts (bytes on the wire).
pub const MAX_MESSAGE: usize = 4 << 20;

/// What travels on a channel.
enum Chunk {
    Data(Vec<u8>),
    /// The link is closed: by the peer (after its last data) or by this end itself.
    Closed,
}

/// One end of an in-memory link.
pub struct MemLink {
    model: DeviceModel,
    name: String,
    /// (to the peer's reader, from the peer, to this end's own reader); `None` once split.
    chans: Option<(Sender<Chunk>, Receiver<Chunk>, Sender<Chunk>)>,
}

/// Create two connected ends. `model` is what both ends report from [`Link::model`];
/// `name` is used by [`Link::describe`] (`"mem <name>"`).
pub fn pair(model: DeviceModel, name: &str) -> (MemLink, MemLink) {
    let (atx, arx) = channel();
    let (btx, brx) = channel();
    let (a_wake, b_wake) = (btx.clone(), atx.clone());
    (
        MemLink {
            model,
            name: name.to_string(),
            chans: Some((atx, brx, a_wake)),
        },
        MemLink {
            model,
            name: name.to_string(),
            chans: Some((btx, arx, b_wake)),
        },
    )
}

impl MemLink {
    /// Split without boxing (for in-crate users that want the concrete types).
    pub fn into_parts(mut self) -> (MemReader, MemWriter) {
        let (tx, rx, wake) = self.chans.take().expect("a MemLink is split once");
        (
            MemReader {
                rx,
                splitter: MessageSplitter::new(MAX_MESSAGE),
                gone: false,
            },
            MemWriter {
                tx: Some((tx, wake)),
            },
        )
    }
}

impl Drop for MemLink {
    /// An end dropped without being split closes the link.
    fn drop(&mut self) {
        if let Some((tx, _, _)) = self.chans.take() {
            let _ = tx.send(Chunk::Closed);
        }
    }
}

impl Link for MemLink {
    fn model(&self) -> DeviceModel {
        self.model
    }
    fn describe(&self) -> String {
        format!("mem {}", self.name)
    }
    fn split(self: Box<Self>) -> (Box<dyn LinkReader>, Box<dyn LinkWriter>) {
        let (r, w) = self.into_parts();
        (Box::new(r), Box::new(w))
    }
}

/// Reading half of a [`MemLink`].
pub struct MemReader {
    rx: Receiver<Chunk>,
    splitter: MessageSplitter,
    gone: bool,
}

impl MemReader {
    fn pop(&mut self) -> Option<Incoming> {
        match self.splitter.next_message()? {
            Ok(m) => Some(Incoming::Message(m)),
            Err(text) => Some(Incoming::Garbage(text)),
        }
    }
}

impl LinkReader for MemReader {
    fn recv(&mut self, timeout: Duration) -> Result<Incoming, LinkError> {
        if let Some(i) = self.pop() {
            return Ok(i);
        }
        if self.gone {
            return Err(LinkError::Gone("peer closed the in-memory link".into()));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Chunk::Data(chunk)) => {
                    self.splitter.push(&chunk);
                    if let Some(i) = self.pop() {
                        return Ok(i);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Ok(Incoming::Idle),
                Ok(Chunk::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    self.gone = true;
                    // A partial message left in the splitter is lost with the peer.
                    self.splitter.clear();
                    return Err(LinkError::Gone("peer closed the in-memory link".into()));
                }
            }
        }
    }

    /// Closing either end wakes a blocked `recv` at once (`Closed` on the channel).
    fn wait_slice(&self) -> Duration {
        Duration::from_secs(3600)
    }
}

/// Writing half of a [`MemLink`]: (to the peer, to this end's own reader).
pub struct MemWriter {
    tx: Option<(Sender<Chunk>, Sender<Chunk>)>,
}

impl LinkWriter for MemWriter {
    fn send(&mut self, message: &[u8]) -> Result<(), LinkError> {
        match &self.tx {
            Some((tx, _)) => tx
                .send(Chunk::Data(message.to_vec()))
                .map_err(|_| LinkError::Gone("peer closed the in-memory link".into())),
            None => Err(LinkError::Gone("in-memory link closed".into())),
        }
    }
    /// Close the link: the peer reads `Gone` after what was sent, this end's reader at once.
    fn close(&mut self) {
        if let Some((tx, wake)) = self.tx.take() {
            let _ = tx.send(Chunk::Closed);
            let _ = wake.send(Chunk::Closed);
        }
    }
}

impl Drop for MemWriter {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::message::build_message;
    use crate::proto::pipeline::Key;

    #[test]
    fn messages_cross_in_pieces_and_drop_means_gone() {
        let (a, b) = pair(DeviceModel::X30tr, "t");
        let (_ar, mut aw) = a.into_parts();
        let (mut br, _bw) = b.into_parts();
        let m1 = build_message(&Key::DEFAULT, 4, b"asdfg");
        let m2 = build_message(&Key::DEFAULT, 2, b"");
        let mut both = m1.clone();
        both.extend_from_slice(&m2);
        aw.send(&both[..10]).unwrap();
        assert!(matches!(
            br.recv(Duration::from_millis(1)).unwrap(),
            Incoming::Idle
        ));
        aw.send(&both[10..]).unwrap();
        match br.recv(Duration::from_millis(100)).unwrap() {
            Incoming::Message(m) => assert_eq!(m, m1),
            other => panic!("{other:?}"),
        }
        match br.recv(Duration::from_millis(100)).unwrap() {
            Incoming::Message(m) => assert_eq!(m, m2),
            other => panic!("{other:?}"),
        }
        aw.send(&m1[..5]).unwrap();
        aw.close();
        drop(_ar);
        assert!(matches!(
            br.recv(Duration::from_millis(100)),
            Err(LinkError::Gone(_))
        ));
    }
}

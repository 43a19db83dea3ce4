//! Connections the HTTP simulators can cut without an answer (the nexo terminal's dropped
//! payment, the GP tom cloud's lost create reply): axum serves [`KillableStream`]s from a
//! [`KillableListener`], and the handler gets a [`ConnKill`] through `ConnectInfo`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TCP stream the handler can cut: once `kill` is set, reads see EOF and writes fail, so
/// the HTTP server drops the connection without an answer.
pub(crate) struct KillableStream {
    inner: tokio::net::TcpStream,
    kill: Arc<AtomicBool>,
}

fn killed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed by the simulator")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The per-connection handle the handler gets (axum `ConnectInfo`).
#[derive(Clone)]
pub(crate) struct ConnKill(pub Arc<AtomicBool>);

impl ConnKill {
    pub fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The listener handing out [`KillableStream`]s; dropping it (the server stopped)
/// disconnects `gone`, which the simulator's `stop` waits for.
pub(crate) struct KillableListener {
    inner: tokio::net::TcpListener,
    _gone: std::sync::mpsc::Sender<()>,
}

impl KillableListener {
    pub(crate) fn new(
        inner: tokio::net::TcpListener,
        gone: std::sync::mpsc::Sender<()>,
    ) -> KillableListener {
        KillableListener { inner, _gone: gone }
    }
}

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (s, a) = axum::serve::Listener::accept(&mut self.inner).await;
        (
            KillableStream {
                inner: s,
                kill: Arc::new(AtomicBool::new(false)),
            },
            a,
        )
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, KillableListener>>
    for ConnKill
{
    fn connect_info(s: axum::serve::IncomingStream<'_, KillableListener>) -> Self {
        ConnKill(s.io().kill.clone())
    }
}

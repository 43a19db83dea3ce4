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

impl KillableStream {
    /// Wrap an accepted stream (for listeners of their own, e.g. the cloud's counting one).
    pub(crate) fn new(inner: tokio::net::TcpStream) -> KillableStream {
        KillableStream {
            inner,
            kill: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The handle that cuts this stream.
    pub(crate) fn conn_kill(&self) -> ConnKill {
        ConnKill(self.kill.clone())
    }
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
        (KillableStream::new(s), a)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, KillableListener>>
    for ConnKill
{
    fn connect_info(s: axum::serve::IncomingStream<'_, KillableListener>) -> Self {
        s.io().conn_kill()
    }
}

/// A simulator's HTTP server on a tokio runtime of its own (two workers): bound when
/// [`HttpServer::start`] returns, serving [`KillableStream`]s, and stopped — its port free,
/// its runtime gone — on drop.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    listener_gone: Option<std::sync::mpsc::Receiver<()>>,
}

impl HttpServer {
    /// Bind `listen` and serve the router `make` returns; `make` runs inside the runtime
    /// (so it may build clients or spawn tasks) and gets the bound address and the runtime's
    /// handle. Returns the server and what `make` returned beside the router.
    pub(crate) fn start<S>(
        listen: &str,
        thread_name: &str,
        make: impl FnOnce(SocketAddr, &tokio::runtime::Handle) -> std::io::Result<(S, axum::Router)>,
    ) -> std::io::Result<(HttpServer, S)> {
        let std_listener = std::net::TcpListener::bind(listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(thread_name)
            .enable_all()
            .build()?;
        let _enter = rt.enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let (state, router) = make(addr, rt.handle())?;
        let (gone_tx, gone_rx) = std::sync::mpsc::channel();
        let listener = KillableListener::new(listener, gone_tx);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = router.into_make_service_with_connect_info::<ConnKill>();
        rt.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        drop(_enter);
        let server = HttpServer {
            addr,
            rt: Some(rt),
            shutdown: Some(stop_tx),
            listener_gone: Some(gone_rx),
        };
        Ok((server, state))
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The runtime (None once stopped).
    pub(crate) fn runtime(&self) -> Option<&tokio::runtime::Runtime> {
        self.rt.as_ref()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rx) = self.listener_gone.take() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
        }
        if let Some(rt) = self.rt.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(std::time::Duration::from_secs(1));
            }
        }
    }
}

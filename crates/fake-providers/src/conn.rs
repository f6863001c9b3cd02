//! A TCP listener whose connections can be killed from a request handler.
//!
//! axum gives a handler no way to close its connection without answering,
//! yet `Hang` must end with a silent close and `DropMidStream` must end a
//! body abruptly. Each accepted socket is wrapped in [`KillIo`], which shares
//! a [`KillSwitch`] with the handler (through axum's `ConnectInfo`). Once the
//! switch is thrown every read and write on the socket fails, so hyper drops
//! the connection and the socket is closed without another byte.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Marks one connection as dead; shared between its socket and its handlers.
#[derive(Debug, Clone, Default)]
pub(crate) struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    /// Make every further read and write on the connection fail.
    pub(crate) fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a handler learns about its connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnMeta {
    /// Throw it to close the connection without a (further) byte.
    pub(crate) kill: KillSwitch,
}

impl Connected<IncomingStream<'_, KillListener>> for ConnMeta {
    fn connect_info(stream: IncomingStream<'_, KillListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A [`TcpListener`] handing out killable sockets.
pub(crate) struct KillListener {
    inner: TcpListener,
}

impl KillListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        KillListener { inner }
    }
}

impl Listener for KillListener {
    type Io = KillIo;
    type Addr = ConnMeta;

    async fn accept(&mut self) -> (KillIo, ConnMeta) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _remote)) => {
                    // Small SSE events must leave at once, not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    let kill = KillSwitch::default();
                    let io = KillIo {
                        stream,
                        kill: kill.clone(),
                    };
                    return (io, ConnMeta { kill });
                }
                // Typically EMFILE; back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<ConnMeta> {
        // Only used by axum for logging; the address itself is not needed.
        self.inner.local_addr().map(|_| ConnMeta {
            kill: KillSwitch::default(),
        })
    }
}

/// A socket that fails all I/O once its [`KillSwitch`] is thrown.
pub(crate) struct KillIo {
    stream: TcpStream,
    kill: KillSwitch,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "fake-providers: connection closed on purpose",
    )
}

impl AsyncRead for KillIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.is_killed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

//! Server-sent events from a provider, with the idle timeout applied between events, the size
//! limits applied to each event and to the whole stream, and transport failures turned into
//! [`ProviderError`]s. Parsing is eventsource-stream's; the limits sit in front of it, so an
//! upstream that never ends an event or never ends the stream cannot grow Portolan's memory.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{Event, EventStream, EventStreamError, Eventsource};
use futures_util::Stream;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{AttemptLimits, BodyLimits, ChunkStream, ProviderError};
use crate::chat::ChatChunk;

/// Why the byte stream under the parser stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamFault {
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    #[error("{what} larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
}

/// Counts a stream's bytes: in all, and since the last blank line (the end of an event).
struct Capped {
    inner: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    limits: BodyLimits,
    total: usize,
    since_event: usize,
    /// The bytes seen last, to find a blank line split across chunks.
    tail: [u8; 3],
    failed: bool,
}

impl Capped {
    fn account(&mut self, chunk: &[u8]) -> Result<(), StreamFault> {
        self.total += chunk.len();
        if self.total > self.limits.max_stream_bytes {
            return Err(StreamFault::TooLarge {
                what: "a stream",
                limit: self.limits.max_stream_bytes,
            });
        }
        for &b in chunk {
            self.tail = [self.tail[1], self.tail[2], b];
            self.since_event += 1;
            let t = self.tail;
            if (t[1] == b'\n' && t[2] == b'\n') || (t[0] == b'\n' && t[1] == b'\r' && t[2] == b'\n')
            {
                self.since_event = 0;
            }
        }
        if self.since_event > self.limits.max_event_bytes {
            return Err(StreamFault::TooLarge {
                what: "a stream event",
                limit: self.limits.max_event_bytes,
            });
        }
        Ok(())
    }
}

impl Stream for Capped {
    type Item = Result<Bytes, StreamFault>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(bytes))) => match self.account(&bytes) {
                Ok(()) => Poll::Ready(Some(Ok(bytes))),
                Err(e) => {
                    self.failed = true;
                    Poll::Ready(Some(Err(e)))
                }
            },
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Where a provider's stream events come from: server-sent events ([`Events`]), or another
/// framing (Bedrock's binary event stream). `Ok(None)` when the body ended cleanly.
pub(crate) trait EventSource: Send + 'static {
    type Event: Send;
    fn next_event(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Option<Self::Event>, ProviderError>> + Send;
}

impl EventSource for Events {
    type Event = Event;
    fn next_event(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Option<Event>, ProviderError>> + Send {
        self.next()
    }
}

/// Relays a provider's stream events through `on_event` (event → chunks) on a task of its own,
/// until `finished` says the answer is whole, an error ends it, or the body ends (then `on_end`
/// says whether what came was whole).
pub(crate) fn relay<E, S>(
    mut events: E,
    mut state: S,
    on_event: fn(&mut S, E::Event) -> Result<Vec<ChatChunk>, ProviderError>,
    on_end: fn(&mut S) -> Result<Vec<ChatChunk>, ProviderError>,
    finished: fn(&S) -> bool,
) -> ChunkStream
where
    E: EventSource,
    S: Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (items, ended) = match events.next_event().await {
                Err(e) => (Err(e), true),
                Ok(None) => (on_end(&mut state), true),
                Ok(Some(event)) => (on_event(&mut state, event), false),
            };
            match items {
                Ok(chunks) => {
                    for chunk in chunks {
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                    }
                    if ended || finished(&state) {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

pub(crate) struct Events {
    inner: EventStream<Capped>,
    provider: String,
    idle: Duration,
}

impl Events {
    pub(crate) fn new(provider: &str, response: reqwest::Response, limits: AttemptLimits) -> Self {
        let capped = Capped {
            inner: response.bytes_stream().boxed(),
            limits: limits.body,
            total: 0,
            since_event: 0,
            tail: [0; 3],
            failed: false,
        };
        Events {
            inner: capped.eventsource(),
            provider: provider.to_owned(),
            idle: limits.idle_timeout,
        }
    }

    /// The next event; `Ok(None)` when the body ended cleanly (whether that was a complete
    /// stream is for the caller to judge from the events it saw).
    pub(crate) async fn next(&mut self) -> Result<Option<Event>, ProviderError> {
        match tokio::time::timeout(self.idle, self.inner.next()).await {
            Err(_) => Err(ProviderError::stalled(&self.provider, self.idle)),
            Ok(None) => Ok(None),
            Ok(Some(Ok(event))) => Ok(Some(event)),
            Ok(Some(Err(EventStreamError::Transport(StreamFault::TooLarge { what, limit })))) => {
                Err(ProviderError::too_large(&self.provider, what, limit))
            }
            Ok(Some(Err(e))) => Err(ProviderError::incomplete(
                &self.provider,
                &format!("connection broke: {e}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(limits: BodyLimits) -> Capped {
        Capped {
            inner: futures_util::stream::empty().boxed(),
            limits,
            total: 0,
            since_event: 0,
            tail: [0; 3],
            failed: false,
        }
    }

    #[test]
    fn an_event_may_not_outgrow_its_limit_even_split_across_chunks() {
        let limits = BodyLimits {
            max_response_bytes: 1 << 20,
            max_event_bytes: 16,
            max_stream_bytes: 1 << 20,
        };
        let mut c = capped(limits);
        for _ in 0..100 {
            // Events of 12 bytes, the blank line split between chunks.
            c.account(b"data: abcd\n").unwrap();
            c.account(b"\n").unwrap();
        }
        let mut c = capped(limits);
        c.account(b"data: 0123456789").unwrap();
        assert!(matches!(
            c.account(b"abcdef"),
            Err(StreamFault::TooLarge {
                what: "a stream event",
                ..
            })
        ));
        let mut c = capped(BodyLimits {
            max_stream_bytes: 30,
            ..limits
        });
        c.account(b"data: a\r\n\r\n").unwrap();
        c.account(b"data: b\r\n\r\n").unwrap();
        assert!(matches!(
            c.account(b"data: c\r\n\r\n"),
            Err(StreamFault::TooLarge {
                what: "a stream",
                ..
            })
        ));
    }
}

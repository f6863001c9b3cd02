//! Response bodies that unfold over time.
//!
//! Streams must reach the client event by event, at the moment each event is
//! "produced", and some must stop abruptly. A response body is therefore
//! described as a list of [`Step`]s (bytes, pauses, an abort) and turned into
//! an axum body backed by a lazy stream, so hyper writes and flushes each
//! piece as it is yielded instead of receiving one pre-joined buffer.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;

use crate::conn::KillSwitch;

/// One step of a timed body.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Send these bytes now (one chunk of the chunked encoding).
    Data(Bytes),
    /// Send nothing for this long.
    Sleep(Duration),
    /// Close the connection abruptly: no terminator, no further bytes.
    Abort,
}

/// Appends steps, skipping zero pauses and empty data.
#[derive(Debug, Default)]
pub(crate) struct Steps(pub(crate) Vec<Step>);

impl Steps {
    pub(crate) fn data(&mut self, b: impl Into<Bytes>) {
        let b = b.into();
        if !b.is_empty() {
            self.0.push(Step::Data(b));
        }
    }

    pub(crate) fn sleep(&mut self, d: Duration) {
        if !d.is_zero() {
            self.0.push(Step::Sleep(d));
        }
    }

    pub(crate) fn abort(&mut self) {
        self.0.push(Step::Abort);
    }
}

/// Grace period before an abort, so hyper flushes the bytes already yielded.
const FLUSH_GRACE: Duration = Duration::from_millis(15);

/// A body that plays `steps` in order; `Abort` kills the connection.
pub(crate) fn timed_body(steps: Steps, kill: KillSwitch) -> Body {
    let state = (VecDeque::from(steps.0), kill, false);
    let stream = futures_util::stream::unfold(state, |(mut queue, kill, done)| async move {
        if done {
            return None;
        }
        loop {
            match queue.pop_front()? {
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Data(b) => return Some((Ok(b), (queue, kill, false))),
                Step::Abort => {
                    // Let hyper write out what it has, then cut the socket.
                    tokio::time::sleep(FLUSH_GRACE).await;
                    kill.trigger();
                    let err = io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "fake-providers: connection dropped mid-stream on purpose",
                    );
                    return Some((Err(err), (queue, kill, true)));
                }
            }
        }
    });
    Body::from_stream(stream)
}

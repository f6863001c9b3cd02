//! Server-sent events from a provider, with the idle timeout applied between events and
//! transport failures turned into [`ProviderError`]s. Parsing is eventsource-stream's.

use std::time::Duration;

use eventsource_stream::{Event, EventStream, Eventsource};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::ProviderError;

pub(crate) struct Events {
    inner: EventStream<BoxStream<'static, Result<bytes::Bytes, reqwest::Error>>>,
    provider: String,
    idle: Duration,
}

impl Events {
    pub(crate) fn new(provider: &str, response: reqwest::Response, idle: Duration) -> Self {
        Events {
            inner: response.bytes_stream().boxed().eventsource(),
            provider: provider.to_owned(),
            idle,
        }
    }

    /// The next event; `Ok(None)` when the body ended cleanly (whether that was a complete
    /// stream is for the caller to judge from the events it saw).
    pub(crate) async fn next(&mut self) -> Result<Option<Event>, ProviderError> {
        match tokio::time::timeout(self.idle, self.inner.next()).await {
            Err(_) => Err(ProviderError::stalled(&self.provider, self.idle)),
            Ok(None) => Ok(None),
            Ok(Some(Ok(event))) => Ok(Some(event)),
            Ok(Some(Err(e))) => Err(ProviderError::incomplete(
                &self.provider,
                &format!("connection broke: {e}"),
            )),
        }
    }
}

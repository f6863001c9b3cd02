//! Shared mutable state of one fake server.
//!
//! The test thread (through [`crate::FakeServer`]) and the request handlers
//! (on the server's runtime) both touch the behaviour queues and the request
//! log, so they live behind one mutex here. Poisoning is ignored: the state
//! is plain data and stays consistent even if a holder panicked.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use crate::behavior::{Behavior, RecordedRequest};

/// The state shared by a [`crate::FakeServer`] handle and its handlers.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Behavior>,
    embed_queue: VecDeque<Behavior>,
    /// `None` means the built-in default: a request-derived reply.
    default: Option<Behavior>,
    expected_key: Option<String>,
    cached_tokens: u64,
    records: Vec<RecordedRequest>,
    /// Requests seen while recording was off (benchmarks keep memory flat this way).
    unrecorded: usize,
    recording_off: bool,
    seq: u64,
    /// Bedrock: the AWS credentials signatures are checked against.
    aws: Option<AwsExpected>,
    /// Vertex: access tokens this server's token endpoint issued and still honours.
    tokens: Vec<String>,
    /// Vertex: service-account token requests answered so far.
    token_grants: usize,
}

/// The AWS credentials a fake Bedrock accepts, and whether they have expired.
#[derive(Debug, Clone, Default)]
pub(crate) struct AwsExpected {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
    pub(crate) expired: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, b: Behavior) {
        self.lock().queue.push_back(b);
    }

    pub(crate) fn push_embedding(&self, b: Behavior) {
        self.lock().embed_queue.push_back(b);
    }

    pub(crate) fn set_default(&self, b: Behavior) {
        self.lock().default = Some(b);
    }

    /// Next behaviour for a model request; `None` means the built-in default.
    pub(crate) fn next_behavior(&self) -> Option<Behavior> {
        let mut s = self.lock();
        match s.queue.pop_front() {
            Some(b) => Some(b),
            None => s.default.clone(),
        }
    }

    /// Next behaviour for an embeddings request; `None` means plain success.
    pub(crate) fn next_embedding_behavior(&self) -> Option<Behavior> {
        self.lock().embed_queue.pop_front()
    }

    pub(crate) fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    pub(crate) fn expect_key(&self, key: &str) {
        self.lock().expected_key = Some(key.to_string());
    }

    pub(crate) fn expected_key(&self) -> Option<String> {
        self.lock().expected_key.clone()
    }

    pub(crate) fn expect_aws(&self, expected: AwsExpected) {
        self.lock().aws = Some(expected);
    }

    pub(crate) fn expected_aws(&self) -> Option<AwsExpected> {
        self.lock().aws.clone()
    }

    /// Issues a new access token (the token endpoint's answer).
    pub(crate) fn issue_token(&self) -> String {
        let mut s = self.lock();
        s.seq += 1;
        s.token_grants += 1;
        let token = format!("ya29.fake-{:06}", s.seq);
        s.tokens.push(token.clone());
        token
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        self.lock().tokens.iter().any(|t| t == token)
    }

    pub(crate) fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    pub(crate) fn token_grants(&self) -> usize {
        self.lock().token_grants
    }

    pub(crate) fn set_cached_tokens(&self, n: u64) {
        self.lock().cached_tokens = n;
    }

    pub(crate) fn cached_tokens(&self) -> u64 {
        self.lock().cached_tokens
    }

    pub(crate) fn record(&self, r: RecordedRequest) {
        let mut s = self.lock();
        if s.recording_off {
            s.unrecorded += 1;
        } else {
            s.records.push(r);
        }
    }

    pub(crate) fn set_recording(&self, on: bool) {
        self.lock().recording_off = !on;
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().records.clone()
    }

    pub(crate) fn request_count(&self) -> usize {
        let s = self.lock();
        s.records.len() + s.unrecorded
    }

    /// A number unique within this server, for response and request ids.
    pub(crate) fn next_seq(&self) -> u64 {
        let mut s = self.lock();
        s.seq += 1;
        s.seq
    }

    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        let seq = s.seq;
        *s = State {
            seq,
            ..State::default()
        };
    }
}

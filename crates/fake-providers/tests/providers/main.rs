//! Black-box tests of the fake providers over real HTTP on 127.0.0.1.
//!
//! One test binary (with one module per provider) keeps link time down.

mod anthropic;
mod azure;
mod failures;
mod gemini;
mod openai;
mod support;

//! Portolan's engine: the prompt library, virtual keys and (in later modules) the routing engine
//! and gateway. Nothing here depends on a GUI toolkit: the CLI, the headless gateway and the desktop
//! shell are all thin layers over this crate.

pub mod error;
pub mod ids;
pub mod keys;
pub mod prompts;
pub mod template;

pub use error::{Error, Result};

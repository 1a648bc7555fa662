//! How long a test waits for something that happens in the background: a job's next tick, an
//! email reaching the SMTP server, a child process listening, a close-out finishing.
//!
//! Tests are bounded by their work (cases, requests, examples), not by the clock. A wait ends as
//! soon as its condition holds, so a generous limit costs a passing test nothing; the limit only
//! turns a real hang into a failure with a message. It is set for a machine several times slower
//! than usual, or with both cores shared with other work, so that a slow day never fails the
//! suite. nextest's `slow-timeout` (`.config/nextest.toml`) is the last guard against a hang.

use std::time::{Duration, Instant};

/// The longest a test waits for one background condition.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The moment a wait started now gives up.
pub fn deadline() -> Instant {
    Instant::now() + PATIENCE
}

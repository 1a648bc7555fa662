//! Use cases: each function is one database transaction (or a short sequence of them) that calls
//! the pure rules in `domain`. Handlers call these and only map the results to JSON.

pub mod accounts;
pub mod audit;
pub mod closeout;
pub mod funding;
pub mod hand_receipts;
pub mod idempotency;
pub mod invitations;
pub mod offers;
pub mod open_data;
pub mod organisations;
pub mod outside;
pub mod page;
pub mod payments;
pub mod pledges;
pub mod progress;
pub mod public_funds;
pub mod receipts;
pub mod refunds;
pub mod sessions;
pub mod statements;
pub mod throttle;

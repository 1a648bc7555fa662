//! community-shares: community share offers with match funding, on a double-entry pledge ledger.
//! See `README.md` for running it and `../shared/DESIGN.md` for the rules it implements.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod ledger;
pub mod metrics;
pub mod notify;
pub mod payments;
pub mod server;
pub mod services;
pub mod state;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod transparency;

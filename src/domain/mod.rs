//! Pure domain rules: no I/O, no clock (times are parameters), no database.

pub mod identity;
pub mod matching;
pub mod money;
pub mod offer;
pub mod pledge;
pub mod postcode;

//! Authentication primitives: password hashing (argon2id) and tokens (JWT access tokens, opaque
//! rotating refresh tokens). Policy (who may do what) lives in `api::access`.

pub mod password;
pub mod tokens;

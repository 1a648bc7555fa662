//! HTTP-level tests against the real server. Each test runs on SQLite and PostgreSQL.

mod support;

mod access_matrix;
mod accounts;
mod cli;
mod closeout;
mod crash;
mod email;
mod errors;
mod funding;
mod health;
mod offers;
mod openapi;
mod organisations;
mod payments;
mod pledges;
mod sessions;
mod web;

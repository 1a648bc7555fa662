//! HTTP-level tests against the real server. Each test runs on SQLite and PostgreSQL.

mod support;

mod access_matrix;
mod accounts;
mod backup;
mod cli;
mod closeout;
mod crash;
mod deploy_files;
mod deployed;
mod email;
mod errors;
mod faults;
mod funding;
mod fuzz;
mod governance;
mod health;
mod ledger_batch;
mod local;
mod match_engine;
mod metrics;
mod offers;
mod openapi;
mod organisations;
mod outside;
mod parsers;
mod payments;
mod platform_console;
mod pledges;
mod public_money;
mod second_approval;
mod sessions;
mod society_console;
mod statements;
mod throttle;
mod web;

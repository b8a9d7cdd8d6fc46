//! The integration tests, as one test binary (one link instead of one per
//! file: most of the suite's build time on 2 cores). Each module drives the
//! system through a public surface: the `consent` binary (CLI, HTTP) or the
//! library API, on real SQLite files and real loopback HTTP.

mod api_keys;
mod appends;
mod canonical;
mod common;
mod decide_cli;
mod durability;
mod erasure_bytes;
mod export_offline;
mod faults;
mod format_vectors;
mod http_api;
mod http_defence;
mod keys;
mod notifier;
mod personal_data;
mod reference_policy_http;
mod rejections;
mod scale_out;
mod schemas;
mod tamper;
mod transparency;
mod two_writers;
mod witness;

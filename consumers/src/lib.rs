//! # consent-consumers
//!
//! Consumers that follow the consent log after it is written. Today: the
//! live decision projection fed in process by the ledger's commit feed
//! ([`projector`]). Next (issue 4): the same projection fed from Kafka on
//! other nodes, and the recipient notifier.
//!
//! It knows the ledger's public surface (`Ledger::subscribe`, `Store`) and
//! the projections; it must not know about HTTP, the CLI or SQL.

pub mod kafka_node;
pub mod projector;
pub mod relay;

pub use kafka_node::{NodeConfig, NodeError};
pub use projector::{LiveProjection, ProjectorError};
pub use relay::{KafkaConfig, RelayError};

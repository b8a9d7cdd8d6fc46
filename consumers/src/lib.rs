//! # consent-consumers
//!
//! Everything that follows the consent log after it is written:
//!
//! - [`projector`]: the live decision projection, fed in process by the
//!   ledger's commit feed (catching up from the store on a gap);
//! - [`relay`]: the outbox relay publishing every entry to Kafka;
//! - [`kafka_node`]: the projection built from the Kafka topic on a
//!   read-only decision node, with a local replica holding its offsets;
//! - [`notifier`]: signed webhooks to the recipients a withdrawal,
//!   objection, unsubscription, closure or erasure concerns, each
//!   confirmed delivery appended to the ledger;
//! - [`witness_client`]: pushing the ledger's signed checkpoints to a C2SP
//!   tlog-witness and reading back its cosignatures;
//! - [`witnesses`]: every published checkpoint pushed to the configured
//!   witnesses, their verified cosignatures added to the stored checkpoint.
//!
//! It knows the ledger's public surface (`Ledger`, `Store`, the entry
//! format), the projections, Kafka and outgoing HTTP; it must not know
//! about SQL, the server's routes or the CLI.

pub mod kafka_node;
pub mod notifier;
pub mod projector;
pub mod recipient_address;
pub mod relay;
pub mod witness_client;
pub mod witnesses;

pub use kafka_node::{NodeConfig, NodeError};
pub use projector::{LiveProjection, ProjectorError};
pub use relay::{KafkaConfig, RelayError};

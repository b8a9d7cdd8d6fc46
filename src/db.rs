//! From `--db` and `--keys` to a store and a key store.

use std::path::PathBuf;

use anyhow::{bail, Context};
use consent_ledger::{AnyStore, KeyStore, Ledger, LedgerConfig};

/// Where the ledger lives, as given on the command line.
#[derive(Debug, Clone)]
pub struct Location {
    pub url: String,
    pub keys: Option<PathBuf>,
    pub name: Option<String>,
}

impl Location {
    /// The key directory: `--keys`, or `<db file stem>.keys` beside an SQLite file.
    pub fn key_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(k) = &self.keys {
            return Ok(k.clone());
        }
        let Some(path) = self
            .url
            .strip_prefix("sqlite://")
            .or(self.url.strip_prefix("sqlite:"))
        else {
            bail!("--keys is required with {}", self.url);
        };
        let path = PathBuf::from(path.split('?').next().unwrap_or(path));
        Ok(path.with_extension("keys"))
    }

    pub async fn store(&self) -> anyhow::Result<AnyStore> {
        AnyStore::open(&self.url)
            .await
            .with_context(|| format!("opening {}", consent_ledger::store::redacted(&self.url)))
    }

    /// This location, naming a ledger it creates after the controller of
    /// `policy` (`<controller id>/ledger`) unless `--ledger-name` was given.
    /// The name is the origin of the log's checkpoints.
    pub fn named_after(&self, policy: &consent_domain::policy::PolicyVersion) -> Location {
        let mut at = self.clone();
        if at.name.is_none() {
            let derived = format!("{}/ledger", policy.controller.id);
            if consent_ledger::tlog::note::valid_name(&derived) {
                at.name = Some(derived);
            }
        }
        at
    }

    pub fn key_store(&self) -> anyhow::Result<KeyStore> {
        Ok(KeyStore::open(self.key_dir()?)?)
    }

    pub async fn ledger(&self) -> anyhow::Result<Ledger<AnyStore>> {
        self.ledger_with(|_| {}).await
    }

    /// Opens the ledger with a configuration the caller adjusts.
    pub async fn ledger_with(
        &self,
        adjust: impl FnOnce(&mut LedgerConfig),
    ) -> anyhow::Result<Ledger<AnyStore>> {
        let store = self.store().await?;
        let keys = KeyStore::open(self.key_dir()?)?;
        let mut config = LedgerConfig::default();
        if let Some(name) = &self.name {
            config.name = name.clone();
        }
        adjust(&mut config);
        Ok(Ledger::open(store, keys, config).await?)
    }
}

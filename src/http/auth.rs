//! API keys with scopes. A key is `ck_<id>_<secret>`; the store keeps the id,
//! the SHA-256 of the secret, the scopes, a name, an optional expiry and a
//! revocation time. The secret is shown once, at creation, and never logged.
//!
//! Keys are cached per process for at most [`KEY_CACHE_TTL`], so a key
//! revoked in the store (by this process or any other serving the same
//! ledger) is refused everywhere within that time, on both backends,
//! without a notification channel; the price is one indexed read per key
//! per interval. A secret that matched a cached key's hash is kept beside
//! it (in memory only, wiped when the entry goes) and later requests are
//! compared with it in constant time instead of hashing again: the
//! process sees the secret on every request anyway, and the hash was the
//! costliest step of a decision's key check. Last use is kept in memory
//! and written every [`LAST_USED_FLUSH`] by [`flush_last_used`], never on
//! the request path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use consent_domain::Timestamp;
use consent_ledger::{ApiKeyRow, Store};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::problem::Problem;
use super::AppState;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Ask for decisions: the answer, its reason and evidence references,
    /// never the subject's pseudonym.
    Decide,
    /// Follow the change stream (`/v1/watch`): every entry's type, the
    /// subject's pseudonym and the purpose, so a holder can follow one
    /// pseudonym's changes over time. `audit` implies it.
    Watch,
    /// Record subject events.
    Record,
    /// Publish and read policy versions, re-acceptance lists.
    Policy,
    /// Read subject histories and the log.
    Audit,
    /// Create, list and revoke API keys.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Decide,
        Scope::Watch,
        Scope::Record,
        Scope::Policy,
        Scope::Audit,
        Scope::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Decide => "decide",
            Scope::Watch => "watch",
            Scope::Record => "record",
            Scope::Policy => "policy",
            Scope::Audit => "audit",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Creates and stores a key; returns the full key, to be shown once, and
/// the stored row.
pub async fn create_key<S: Store>(
    store: &S,
    scopes: &[Scope],
    name: &str,
    expires_at: Option<Timestamp>,
) -> anyhow::Result<(String, ApiKeyRow)> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let names: Vec<&str> = scopes.iter().map(|s| s.name()).collect();
    let row = ApiKeyRow {
        id: id.clone(),
        name: name.to_owned(),
        secret_hash: hash.to_vec(),
        scopes: names.join(" "),
        created_at: Timestamp::now().to_string(),
        expires_at: expires_at.map(|t| t.to_string()),
        revoked_at: None,
        last_used_at: None,
    };
    store.create_api_key(&row).await?;
    Ok((format!("ck_{id}_{secret}"), row))
}

/// How long a key read from the store is trusted: revocation and expiry
/// reach every process within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_millis(500);

/// How often accepted keys' last-use times are written to the store.
pub const LAST_USED_FLUSH: Duration = Duration::from_secs(10);

/// Keys read recently, by id: the hash (never the secret), the scopes and
/// the limits, with when they were read and whether they were used since
/// the last flush.
#[derive(Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<String, Arc<CachedKey>>>,
}

struct CachedKey {
    secret_hash: Vec<u8>,
    /// The secret as given by a request whose hash matched.
    verified: OnceLock<Zeroizing<Box<[u8]>>>,
    scopes: String,
    expires_at: Option<Timestamp>,
    revoked: bool,
    read_at: Instant,
    used: AtomicBool,
}

impl CachedKey {
    /// Whether `secret` is this key's: compared with a secret already
    /// verified, or hashed and compared with the stored hash (and then
    /// kept as verified). Constant time either way.
    fn holds(&self, secret: &str) -> bool {
        if let Some(known) = self.verified.get() {
            return bool::from(known.as_ref().ct_eq(secret.as_bytes()));
        }
        let given: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let holds = bool::from(given[..].ct_eq(self.secret_hash.as_slice()));
        if holds {
            let _ = self.verified.set(Zeroizing::new(
                secret.as_bytes().to_vec().into_boxed_slice(),
            ));
        }
        holds
    }
}

impl KeyCache {
    fn fresh(&self, id: &str) -> Option<Arc<CachedKey>> {
        let keys = self.keys.read().expect("key cache lock");
        keys.get(id)
            .filter(|k| k.read_at.elapsed() < KEY_CACHE_TTL)
            .cloned()
    }

    fn insert(&self, row: &ApiKeyRow) -> Arc<CachedKey> {
        let key = Arc::new(CachedKey {
            secret_hash: row.secret_hash.clone(),
            verified: OnceLock::new(),
            scopes: row.scopes.clone(),
            expires_at: row
                .expires_at
                .as_deref()
                .and_then(|t| Timestamp::parse(t).ok()),
            revoked: row.revoked_at.is_some(),
            read_at: Instant::now(),
            used: AtomicBool::new(false),
        });
        let mut keys = self.keys.write().expect("key cache lock");
        if let Some(old) = keys.get(&row.id) {
            // Keep a use not yet flushed.
            if old.used.load(Ordering::Relaxed) {
                key.used.store(true, Ordering::Relaxed);
            }
        }
        keys.insert(row.id.clone(), key.clone());
        key
    }

    fn forget(&self, id: &str) {
        self.keys.write().expect("key cache lock").remove(id);
    }

    /// The ids used since the last call.
    fn take_used(&self) -> Vec<String> {
        let keys = self.keys.read().expect("key cache lock");
        keys.iter()
            .filter(|(_, k)| k.used.swap(false, Ordering::Relaxed))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Writes last-use times every [`LAST_USED_FLUSH`] until `stop`, then once
/// more. A failed write is logged and retried at the next flush.
pub async fn flush_last_used(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(LAST_USED_FLUSH) => false,
            _ = stop.changed() => true,
        };
        let now = Timestamp::now().to_string();
        let used: Vec<(String, String)> = state
            .api_keys
            .take_used()
            .into_iter()
            .map(|id| (id, now.clone()))
            .collect();
        if !used.is_empty() {
            if let Err(e) = state.store.touch_api_keys(&used).await {
                tracing::warn!(error = %e, "could not record API keys' last use");
            }
        }
        if stopping || *stop.borrow() {
            return;
        }
    }
}

/// A scope a handler requires, as a type: `Authorized<Record>`.
pub trait RequiredScope {
    const SCOPE: Scope;
}

macro_rules! scope_marker {
    ($name:ident, $scope:expr) => {
        /// Requires the scope of the same name.
        pub struct $name;
        impl RequiredScope for $name {
            const SCOPE: Scope = $scope;
        }
    };
}
scope_marker!(Decide, Scope::Decide);
scope_marker!(Watch, Scope::Watch);
scope_marker!(Record, Scope::Record);
scope_marker!(Policy, Scope::Policy);
scope_marker!(Audit, Scope::Audit);
scope_marker!(Admin, Scope::Admin);

/// Extractor: the request carries a valid API key with scope `R`. Listed
/// before the body, so an unauthenticated request is refused (401/403)
/// before its body is even read.
pub struct Authorized<R> {
    /// The API key's id (never its secret): for scoping idempotency keys
    /// and for the access log.
    pub key_id: String,
    scope: std::marker::PhantomData<R>,
}

impl<R> Authorized<R> {
    /// What the entries this request appends record as their author.
    pub fn recorded_by(&self) -> consent_ledger::format::RecordedBy {
        consent_ledger::format::RecordedBy::api_key(&self.key_id)
            .expect("an accepted key's id is 16 lower-case hex digits")
    }

    /// The scope an idempotency key sent to `route` with this API key
    /// lives in: one client's key never answers for another's.
    pub fn idempotency_scope(&self, route: &str) -> String {
        format!("api-key {} {route}", self.key_id)
    }
}

impl<R: RequiredScope> FromRequestParts<Arc<AppState>> for Authorized<R> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        let slot = parts.extensions.get::<super::KeySlot>();
        let key_id = require_noted(state, &parts.headers, slot, R::SCOPE).await?;
        Ok(Self {
            key_id,
            scope: std::marker::PhantomData,
        })
    }
}

/// The request's credentials, for a handler whose required scope depends
/// on the request (a public log, a receipt's format): checked with
/// [`Credentials::require`], which also names the key in the access log.
pub struct Credentials {
    headers: HeaderMap,
    slot: Option<super::KeySlot>,
}

impl Credentials {
    pub async fn require(&self, state: &AppState, scope: Scope) -> Result<String, Problem> {
        require_noted(state, &self.headers, self.slot.as_ref(), scope).await
    }
}

impl FromRequestParts<Arc<AppState>> for Credentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self {
            headers: parts.headers.clone(),
            slot: parts.extensions.get::<super::KeySlot>().cloned(),
        })
    }
}

/// [`require`], and the accepted key's id written into the request's
/// access-log slot.
async fn require_noted(
    state: &AppState,
    headers: &HeaderMap,
    slot: Option<&super::KeySlot>,
    scope: Scope,
) -> Result<String, Problem> {
    let key_id = require(state, headers, scope).await?;
    if let Some(slot) = slot {
        let _ = slot.0.set(key_id.clone());
    }
    Ok(key_id)
}

/// Checks the request's bearer key and that it carries `scope`; returns
/// the key's id.
async fn require(state: &AppState, headers: &HeaderMap, scope: Scope) -> Result<String, Problem> {
    let unauthorized =
        |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send Authorization: Bearer <API key>"))?;
    let (id, secret) = key
        .strip_prefix("ck_")
        .and_then(|k| k.split_once('_'))
        .filter(|(id, _)| consent_ledger::format::RecordedBy::is_api_key_id(id))
        .ok_or_else(|| unauthorized("malformed API key"))?;
    let key = match state.api_keys.fresh(id) {
        Some(k) => k,
        None => match state
            .store
            .find_api_key(id)
            .await
            .map_err(Problem::internal)?
        {
            Some(row) => state.api_keys.insert(&row),
            None => {
                state.api_keys.forget(id);
                return Err(unauthorized("unknown API key"));
            }
        },
    };
    if !key.holds(secret) {
        return Err(unauthorized("unknown API key"));
    }
    // Only a holder of the secret learns why a key stopped working.
    if key.revoked {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "api_key_revoked",
            "this API key was revoked",
        ));
    }
    if key.expires_at.is_some_and(|t| t <= Timestamp::now()) {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "api_key_expired",
            "this API key has expired",
        ));
    }
    let scopes = &key.scopes;
    let implied = |held: &str| held == scope.name() || (scope == Scope::Watch && held == "audit");
    if !scopes.split(' ').any(implied) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this API key lacks the `{}` scope", scope.name()),
        ));
    }
    key.used.store(true, Ordering::Relaxed);
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(secret: &str) -> CachedKey {
        CachedKey {
            secret_hash: Sha256::digest(secret.as_bytes()).to_vec(),
            verified: OnceLock::new(),
            scopes: "decide".into(),
            expires_at: None,
            revoked: false,
            read_at: Instant::now(),
            used: AtomicBool::new(false),
        }
    }

    #[test]
    fn a_verified_secret_lets_only_itself_through() {
        let key = cached("right");
        assert!(!key.holds("wrong"), "refused before any match");
        assert!(key.verified.get().is_none(), "a refused secret is not kept");
        assert!(key.holds("right"));
        assert!(key.verified.get().is_some());
        for other in ["wrong", "righ", "right ", "", "RIGHT"] {
            assert!(!key.holds(other), "{other:?} passed a verified key");
        }
        assert!(key.holds("right"));
    }
}

//! API keys with scopes. A key is `ck_<id>_<secret>`; the store keeps the id,
//! the SHA-256 of the secret and the scopes. The secret is shown once, at
//! creation, and never logged.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use consent_ledger::Store;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Decide,
        Scope::Watch,
        Scope::Record,
        Scope::Policy,
        Scope::Audit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Decide => "decide",
            Scope::Watch => "watch",
            Scope::Record => "record",
            Scope::Policy => "policy",
            Scope::Audit => "audit",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Creates and stores a key; returns the full key, to be shown once.
pub async fn create_key<S: Store>(store: &S, scopes: &[Scope]) -> anyhow::Result<String> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let names: Vec<&str> = scopes.iter().map(|s| s.name()).collect();
    store.create_api_key(&id, &hash, &names.join(" ")).await?;
    Ok(format!("ck_{id}_{secret}"))
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
    /// The scope an idempotency key sent to `route` with this API key
    /// lives in: one client's key never answers for another's.
    pub fn idempotency_scope(&self, route: &str) -> String {
        format!("api-key {} {route}", self.key_id)
    }
}

impl<R: RequiredScope> FromRequestParts<Arc<AppState>> for Authorized<R> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        let key_id = require(state, &parts.headers, R::SCOPE).await?;
        Ok(Self {
            key_id,
            scope: std::marker::PhantomData,
        })
    }
}

/// Checks the request's bearer key and that it carries `scope`; returns
/// the key's id.
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<String, Problem> {
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
        .ok_or_else(|| unauthorized("malformed API key"))?;
    // Keys never change once created, so a key read once is cached (the
    // hash, never the secret): the hot path does no I/O.
    let cached = state
        .api_keys
        .read()
        .expect("key cache lock")
        .get(id)
        .cloned();
    let (hash, scopes) = match cached {
        Some(k) => k,
        None => {
            let found = state
                .store
                .find_api_key(id)
                .await
                .map_err(Problem::internal)?;
            let Some(k) = found else {
                return Err(unauthorized("unknown API key"));
            };
            state
                .api_keys
                .write()
                .expect("key cache lock")
                .insert(id.to_owned(), k.clone());
            k
        }
    };
    let given: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    if !bool::from(given[..].ct_eq(hash.as_slice())) {
        return Err(unauthorized("unknown API key"));
    }
    let implied = |held: &str| held == scope.name() || (scope == Scope::Watch && held == "audit");
    if !scopes.split(' ').any(implied) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this API key lacks the `{}` scope", scope.name()),
        ));
    }
    Ok(id.to_owned())
}

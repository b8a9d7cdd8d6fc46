//! API key management for the `admin` scope: `GET /v1/api-keys`,
//! `POST /v1/api-keys`, `DELETE /v1/api-keys/{id}`; the CLI's
//! `consent api-key` shares [`key_view`] and [`parse_expiry`].
//!
//! A key's secret appears once, in the answer that creates it; listings
//! show ids, names, scopes and times only.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use consent_domain::Timestamp;
use consent_ledger::{ApiKeyRow, Store};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{create_key, Admin, Authorized, Scope};
use super::problem::{Body, PathParam, Problem};
use super::AppState;

/// A key as people see it: everything but its secret and hash.
pub fn key_view(row: &ApiKeyRow) -> Value {
    let now = Timestamp::now();
    let expired = row
        .expires_at
        .as_deref()
        .and_then(|t| Timestamp::parse(t).ok())
        .is_some_and(|t| t <= now);
    let status = match (&row.revoked_at, expired) {
        (Some(_), _) => "revoked",
        (None, true) => "expired",
        (None, false) => "active",
    };
    json!({
        "id": row.id,
        "name": row.name,
        "scopes": row.scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "status": status,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "last_used_at": row.last_used_at,
    })
}

/// Why an expiry was refused.
#[derive(Debug)]
pub enum ExpiryError {
    /// Neither a lifetime nor an RFC 3339 instant (400 `invalid_api_key`).
    Malformed(String),
    /// An instant not in the future (422 `expiry_in_past`).
    Past(String),
}

impl std::fmt::Display for ExpiryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(s) | Self::Past(s) => f.write_str(s),
        }
    }
}

/// An expiry: a lifetime from now (`90d`, `12h`, `30m`: 1 to 999,999 days,
/// hours or minutes, no leading zero) or an RFC 3339 instant ahead of now.
pub fn parse_expiry(text: &str) -> Result<Timestamp, ExpiryError> {
    let now = Timestamp::now();
    let at = match lifetime_seconds(text) {
        Some(seconds) => Timestamp::from_micros(now.as_micros() + seconds * 1_000_000),
        None => Timestamp::parse(text).map_err(|_| {
            ExpiryError::Malformed(format!(
                "invalid expiry {text:?}: expected an RFC 3339 instant or a lifetime such as 90d, 12h, 30m"
            ))
        })?,
    };
    if at <= now {
        return Err(ExpiryError::Past(format!(
            "expiry {text:?} is not in the future"
        )));
    }
    Ok(at)
}

/// `[1-9][0-9]{0,5}` then `d`, `h` or `m`, in seconds.
fn lifetime_seconds(text: &str) -> Option<i64> {
    let unit = match text.as_bytes().last()? {
        b'd' => 86_400,
        b'h' => 3_600,
        b'm' => 60,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    let well_formed = (1..=6).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| digits.parse::<i64>().expect("six digits") * unit)
}

/// Scope names, each known, at least one.
pub fn parse_scopes<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for name in names {
        let scope = Scope::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
            format!(
                "unknown scope {name:?}: expected one of {}",
                known.join(", ")
            )
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("a key needs at least one scope".into());
    }
    Ok(scopes)
}

/// A name shown in listings: printable, at most 100 characters.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.chars().count() > 100 {
        return Err("a key's name is at most 100 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("a key's name may not contain control characters".into());
    }
    Ok(())
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    _: Authorized<Admin>,
) -> Result<Json<Value>, Problem> {
    let keys = state
        .store
        .list_api_keys()
        .await
        .map_err(Problem::internal)?;
    let keys: Vec<Value> = keys.iter().map(key_view).collect();
    Ok(Json(json!({ "api_keys": keys })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    scopes: Vec<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_at: Option<String>,
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    _: Authorized<Admin>,
    Body(new): Body<NewKey>,
) -> Result<Response, Problem> {
    let invalid = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_api_key", detail);
    let scopes = parse_scopes(new.scopes.iter().map(String::as_str)).map_err(invalid)?;
    check_name(&new.name).map_err(invalid)?;
    let expires_at = new
        .expires_at
        .as_deref()
        .map(parse_expiry)
        .transpose()
        .map_err(|e| match e {
            ExpiryError::Malformed(detail) => invalid(detail),
            ExpiryError::Past(detail) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "expiry_in_past", detail)
            }
        })?;
    let (secret, row) = create_key(&*state.store, &scopes, &new.name, expires_at)
        .await
        .map_err(Problem::internal)?;
    let mut body = key_view(&row);
    body["api_key"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    _: Authorized<Admin>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Value>, Problem> {
    let at = Timestamp::now().to_string();
    match state
        .store
        .revoke_api_key(&id, &at)
        .await
        .map_err(Problem::internal)?
    {
        Some(row) => Ok(Json(key_view(&row))),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown_api_key",
            "no API key has this id",
        )),
    }
}

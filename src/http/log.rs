//! The log as static C2SP tlog-tiles resources: `GET /log/checkpoint`,
//! `/log/tile/<L>/<N>[.p/<W>]` (hash tiles) and
//! `/log/tile/entries/<N>[.p/<W>]` (entry bundles: `u16 big-endian length ‖
//! line` per entry). Tiles never change once served, so they carry
//! immutable cache headers; the checkpoint does not. Readable with the
//! `audit` scope, or by anyone when the operator runs `serve --public-log`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use consent_ledger::tlog::tiles::{parse_tile_path, TILE_WIDTH};
use consent_ledger::Store;

use super::auth::{Credentials, Scope};
use super::problem::{PathParam, Problem};
use super::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn readable(state: &AppState, credentials: &Credentials) -> Result<(), Problem> {
    if state.public_log {
        return Ok(());
    }
    credentials.require(state, Scope::Audit).await.map(drop)
}

fn not_found(detail: String) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", detail)
}

pub async fn checkpoint(
    State(state): State<Arc<AppState>>,
    credentials: Credentials,
) -> Result<Response, Problem> {
    readable(&state, &credentials).await?;
    let latest = state
        .store
        .latest_checkpoint()
        .await
        .map_err(Problem::internal)?
        .ok_or_else(|| not_found("no checkpoint has been published yet".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        latest.note,
    )
        .into_response())
}

pub async fn tile(
    State(state): State<Arc<AppState>>,
    credentials: Credentials,
    PathParam(path): PathParam<String>,
) -> Result<Response, Problem> {
    readable(&state, &credentials).await?;
    let coord = parse_tile_path(&path)
        .ok_or_else(|| not_found(format!("tile/{path} is not a tile path")))?;
    let body = match coord.level {
        Some(level) => {
            let mut tiles = state
                .store
                .read_tiles(&[(level, coord.index)])
                .await
                .map_err(Problem::internal)?;
            let bytes = tiles.remove(&(level, coord.index)).unwrap_or_default();
            let want = coord.width as usize * 32;
            if bytes.len() < want {
                return Err(not_found(format!("tile/{path} does not exist yet")));
            }
            bytes[..want].to_vec()
        }
        None => {
            let first = coord
                .index
                .checked_mul(TILE_WIDTH)
                .ok_or_else(|| not_found(format!("tile/{path} does not exist")))?;
            let lines = state
                .store
                .read_lines(first, coord.width as u32)
                .await
                .map_err(Problem::internal)?;
            if lines.len() < coord.width as usize {
                return Err(not_found(format!("tile/{path} does not exist yet")));
            }
            let mut bundle = Vec::with_capacity(lines.iter().map(|l| l.line.len() + 2).sum());
            for l in &lines {
                // Appends refuse entries over 65,535 bytes.
                let len = u16::try_from(l.line.len()).map_err(Problem::internal)?;
                bundle.extend_from_slice(&len.to_be_bytes());
                bundle.extend_from_slice(l.line.as_bytes());
            }
            bundle
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        body,
    )
        .into_response())
}

//! `GET /v1/watch?from=SEQ`: Server-Sent Events of consent changes from
//! entry SEQ on, so services can cache decisions and invalidate them. Each
//! event names the entry, its type, the subject's pseudonym and the
//! purpose: nothing personal, but enough to follow one pseudonym over
//! time, so it needs the `watch` scope (or `audit`), not `decide`. Reads from the store, so a slow client never
//! holds back the writer and a reconnect resumes exactly (`id` = seq).

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use consent_domain::Event;
use consent_ledger::format::EntryLine;
use consent_ledger::Store;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;

use super::auth::{Authorized, Watch};
use super::problem::{Params, Problem};
use super::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct From {
    #[serde(default)]
    from: u64,
}

fn purpose_of(event: &Event) -> Option<String> {
    match event {
        Event::ConsentGranted(e) => Some(e.purpose.to_string()),
        Event::ConsentWithdrawn(e) => e.purpose.as_ref().map(|p| p.to_string()),
        Event::Unsubscribed(e) => Some(e.purpose.to_string()),
        Event::ObjectionRecorded(e) => Some(e.purpose.to_string()),
        _ => None,
    }
}

pub async fn watch(
    State(state): State<Arc<AppState>>,
    _: Authorized<Watch>,
    Params(from): Params<From>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Problem> {
    let stream = futures_util::stream::unfold(
        (state, from.from, Vec::<SseEvent>::new()),
        |(state, mut next, mut ready)| async move {
            loop {
                if let Some(e) = ready.pop() {
                    return Some((Ok(e), (state, next, ready)));
                }
                let mut committed = state.committed();
                if committed.wait_for(|head| *head >= next).await.is_err() {
                    return None;
                }
                let page = match state.store.read_lines(next, 512).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "watch stream read failed");
                        return None;
                    }
                };
                for row in page.iter().rev() {
                    if let Ok(entry) = EntryLine::parse(&row.line) {
                        let data = json!({
                            "seq": entry.seq,
                            "type": entry.event.kind(),
                            "subject": entry.event.subject(),
                            "purpose": purpose_of(&entry.event),
                            "recorded_at": entry.recorded_at,
                        });
                        ready.push(
                            SseEvent::default()
                                .id(entry.seq.to_string())
                                .event(entry.event.kind())
                                .data(data.to_string()),
                        );
                    }
                }
                next = page.last().map_or(next, |r| r.seq + 1);
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

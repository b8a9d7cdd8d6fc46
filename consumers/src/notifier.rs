//! The recipient notifier: the reference policy promises that when a
//! subject withdraws, objects, unsubscribes, closes the account or asks for
//! erasure, every recipient of the data is told. This task follows the log
//! (its position is a cursor in the database), works out the recipients
//! the policy in force names for the affected purposes, and delivers each a
//! signed webhook, retrying with exponential backoff. Each confirmed
//! delivery is appended to the ledger as a `recipient_notified` entry (at
//! most once per entry and recipient), so "every recipient was told" is
//! itself provable; a delivery that fails its last try becomes a dead
//! letter in the database for an operator.
//!
//! Webhook request: `POST` of a JSON body (below) with the headers
//! `Consent-Notification-Id: <entry>:<recipient>` (stable across retries:
//! receivers drop repeats) and `Consent-Signature: keyid=<id>,t=<unix
//! seconds>,ed25519=<hex signature of "<t>.<body>">`, signed with the
//! webhook key (`webhook.key` in the key directory, apart from the log's
//! keys). Endpoints may be `https://` (rustls, the system's trust store).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use consent_domain::event::RecipientNotified;
use consent_domain::{Event, PurposeId, RecipientId, Timestamp};
use consent_ledger::format::EntryLine;
use consent_ledger::store::DeadLetter;
use consent_ledger::{notification_key, Ledger, LedgerKey, Store, StoreError};
use ed25519_dalek::Signer;
use futures_util::future::join_all;

use crate::recipient_address::AddressPolicy;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};

use crate::projector::LiveProjection;

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the recipients file {path}: {detail}")]
    Config { path: String, detail: String },
    #[error("stored entry {seq} cannot be read: {detail}")]
    Corrupt { seq: u64, detail: String },
    #[error("the projection has not applied entry {seq} after 30 s")]
    ProjectionBehind { seq: u64 },
    #[error("recording a delivery: {0}")]
    Ledger(#[from] consent_ledger::LedgerError),
}

/// Where each recipient is told, from a JSON file:
/// `{"recipients": {"<recipient id>": {"url": "http://…"}}}`. A recipient
/// not in the file is told at the `notify_url` the policy gives it; one
/// with neither becomes a dead letter at once.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    pub recipients: HashMap<String, Endpoint>,
    /// Which addresses any of these (or a policy's) URLs may reach: set by
    /// the operator, never by the file.
    #[serde(skip)]
    pub addresses: Arc<AddressPolicy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub url: String,
}

impl Endpoints {
    pub fn load(path: &std::path::Path) -> Result<Self, NotifierError> {
        let bad = |detail: String| NotifierError::Config {
            path: path.display().to_string(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
    }
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Tries per recipient before a dead letter.
    pub attempts: u32,
    /// Wait before the second try; doubled each time, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 8,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The follower's cursor name.
pub const CURSOR: &str = "recipient-notifier";

/// What one entry asks of recipients, if anything.
struct Notice {
    seq: u64,
    hash: String,
    recorded_at: Timestamp,
    kind: &'static str,
    subject: consent_domain::Pseudonym,
    /// `None`: every purpose (account closure, erasure).
    purpose: Option<PurposeId>,
}

fn notice(seq: u64, entry: EntryLine) -> Option<Notice> {
    let purpose = match &entry.event {
        Event::ConsentWithdrawn(e) => e.purpose.clone(),
        Event::ObjectionRecorded(e) => Some(e.purpose.clone()),
        Event::Unsubscribed(e) => Some(e.purpose.clone()),
        Event::AccountClosed(_) | Event::ErasureRequested(_) => None,
        _ => return None,
    };
    Some(Notice {
        seq,
        hash: entry.hash.clone(),
        recorded_at: entry.recorded_at,
        kind: entry.event.kind(),
        subject: entry.event.subject()?.clone(),
        purpose,
    })
}

/// Follows the log and notifies recipients until `stop` turns true.
pub async fn run<S: Store>(
    ledger: Ledger<S>,
    projection: Arc<LiveProjection>,
    endpoints: Endpoints,
    key: LedgerKey,
    retry: Retry,
    mut stop: watch::Receiver<bool>,
) -> Result<(), NotifierError> {
    let store = ledger.store().clone();
    // No redirects and no proxy from the environment: each request goes
    // to the checked host, through the checking resolver.
    let client = reqwest::Client::builder()
        .timeout(retry.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(endpoints.addresses.resolver())
        .build()
        .map_err(|e| NotifierError::Config {
            path: "(HTTP client)".into(),
            detail: e.to_string(),
        })?;
    let mut committed = ledger.committed();
    let mut next = store.cursor(CURSOR).await?.unwrap_or(0);
    info!(next, recipients = endpoints.recipients.len(), key_id = %key.id, "recipient notifier started");
    let sender = Sender {
        name: ledger.name().to_owned(),
        ledger,
        client,
        endpoints,
        key,
        retry,
    };
    loop {
        let page = store.read_lines(next, 256).await?;
        for row in &page {
            let entry = EntryLine::parse(&row.line).map_err(|e| NotifierError::Corrupt {
                seq: row.seq,
                detail: e.to_string(),
            })?;
            if let Some(n) = notice(row.seq, entry) {
                // Recipients come from the policy in force at the entry,
                // so the projection must have applied it.
                if !projection.wait_for(n.seq, Duration::from_secs(30)).await {
                    // Never decide recipients from a stale model: stop, and
                    // be restarted from the cursor (nothing is skipped).
                    return Err(NotifierError::ProjectionBehind { seq: n.seq });
                }
                let (recipients, policy) = {
                    let model = projection.model.read().expect("projection lock");
                    (
                        model.recipients_to_notify(&n.subject, n.purpose.as_ref(), n.recorded_at),
                        model.policy_in_force(n.recorded_at),
                    )
                };
                // Where to: the operator's recipients file first, else the
                // `notify_url` the policy gives the recipient.
                let urls: HashMap<RecipientId, Option<String>> = recipients
                    .iter()
                    .map(|r| {
                        let configured = sender
                            .endpoints
                            .recipients
                            .get(r.as_str())
                            .map(|e| e.url.clone());
                        let declared = policy.as_ref().and_then(|p| {
                            p.recipients
                                .iter()
                                .find(|d| &d.id == r)
                                .and_then(|d| d.notify_url.clone())
                        });
                        (r.clone(), configured.or(declared))
                    })
                    .collect();
                let span = info_span!(
                    "notify",
                    entry = n.seq,
                    kind = n.kind,
                    recipients = recipients.len()
                );
                sender.notify_all(&n, &urls).instrument(span).await?;
            }
            next = row.seq + 1;
        }
        if !page.is_empty() {
            store.save_cursor(CURSOR, next).await?;
            continue;
        }
        if *stop.borrow() {
            return Ok(());
        }
        tokio::select! {
            _ = committed.changed() => {}
            _ = stop.changed() => {}
        }
    }
}

struct Sender<S> {
    ledger: Ledger<S>,
    client: reqwest::Client,
    endpoints: Endpoints,
    key: LedgerKey,
    retry: Retry,
    name: String,
}

impl<S: Store> Sender<S> {
    async fn notify_all(
        &self,
        n: &Notice,
        recipients: &HashMap<RecipientId, Option<String>>,
    ) -> Result<(), NotifierError> {
        let store = self.ledger.store();
        let keys: Vec<String> = recipients
            .keys()
            .map(|r| notification_key(n.seq, r.as_str()))
            .collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        // Already confirmed before a restart: not sent again.
        let done = store.find_idempotency(&refs, 0).await?;
        let pending = recipients
            .iter()
            .zip(&keys)
            .filter(|(_, k)| !done.contains_key(*k))
            .map(|((r, url), _)| self.notify(n, r, url.as_deref()));
        for outcome in join_all(pending).await {
            outcome?;
        }
        Ok(())
    }

    /// Delivers to one recipient, then records the delivery or the dead letter.
    async fn notify(
        &self,
        n: &Notice,
        recipient: &RecipientId,
        url: Option<&str>,
    ) -> Result<(), NotifierError> {
        let purposes: Vec<PurposeId> = n.purpose.iter().cloned().collect();
        let body = json!({
            "notification_id": format!("{}:{}", n.seq, recipient),
            "ledger": self.name,
            "recipient": recipient,
            "event": n.kind,
            "entry": {"seq": n.seq, "hash": n.hash, "recorded_at": n.recorded_at},
            "subject": n.subject,
            "purposes": purposes,
            "action": if n.kind == "erasure_requested" { "erase" } else { "stop_processing" },
        })
        .to_string();
        let failure = match url.map(|u| (u, self.endpoints.addresses.check_url(u))) {
            None => Some((0, format!("no endpoint for recipient {recipient}: neither the recipients file nor the policy gives one"))),
            // Never tried: no retry makes a refused address acceptable.
            Some((_, Err(reason))) => Some((0, format!("recipient URL refused: {reason}"))),
            Some((url, Ok(_))) => self.deliver(url, n.seq, recipient, &body).await.err(),
        };
        match failure {
            None => {
                let event = RecipientNotified {
                    entry: n.seq,
                    entry_hash: n.hash.clone(),
                    purposes,
                    recipient: recipient.clone(),
                    subject: n.subject.clone(),
                };
                match self.ledger.record_notification(event).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(rejected)) => {
                        warn!(error = %rejected, "recording a delivery was refused");
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Some((attempts, last_error)) => {
                warn!(entry = n.seq, %recipient, attempts, error = %last_error, "notification dead-lettered");
                self.ledger
                    .store()
                    .record_dead_letter(&DeadLetter {
                        seq: n.seq,
                        recipient: recipient.to_string(),
                        attempts,
                        last_error,
                        failed_at: Timestamp::now().to_string(),
                    })
                    .await?;
                Ok(())
            }
        }
    }

    /// Tries until a 2xx answer or the last attempt; Err((attempts, last error)).
    async fn deliver(
        &self,
        url: &str,
        seq: u64,
        recipient: &RecipientId,
        body: &str,
    ) -> Result<(), (u32, String)> {
        let mut wait = self.retry.backoff;
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts.max(1) {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let sig = self.key.signing.sign(format!("{t}.{body}").as_bytes());
            let sent = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .header("consent-notification-id", format!("{seq}:{recipient}"))
                .header(
                    "consent-signature",
                    format!(
                        "keyid={},t={t},ed25519={}",
                        self.key.id,
                        hex::encode(sig.to_bytes())
                    ),
                )
                .body(body.to_owned())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
                // Without the URL (it may carry a token), with the cause
                // (a refused address says which and why).
                Err(e) => last = error_chain(&e.without_url()),
            }
            warn!(entry = seq, %recipient, attempt, error = %last, "webhook delivery failed");
            if attempt < self.retry.attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(self.retry.max_backoff);
            }
        }
        Err((self.retry.attempts, last))
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

//! Projection benchmarks: in-process decisions per second on one core, and
//! memory per subject with 1,000,000 subjects × 5 purposes loaded.
//!
//! `cargo bench --bench decisions` (results in BENCHMARKS.md).

use std::time::Instant;

use consent_domain::command::PublishPolicy;
use consent_domain::{Command, Event, LedgerState, PolicyVersion, Pseudonym, Timestamp};
use consent_projections::{ConsentProjection, Query};
use serde_json::json;

const POLICY: &str = include_str!("../examples/reference-policy.json");

/// Counts live heap bytes, so the projection's own memory can be measured
/// exactly (resident-set sizes hide freed-but-kept memory).
struct Counting;
static LIVE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as i64, std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(
            new as i64 - l.size() as i64,
            std::sync::atomic::Ordering::Relaxed,
        );
        std::alloc::System.realloc(p, l, new)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> i64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

fn main() {
    let subjects: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let mut state = LedgerState::new();
    let mut projection = ConsentProjection::new();
    let mut seq = 0u64;
    let mut record = |state: &mut LedgerState,
                      projection: &mut ConsentProjection,
                      command: Command,
                      at: Timestamp| {
        let event: Event = state.decide(command, at).unwrap();
        state.apply(&event, at);
        projection.apply(seq, at, [seq as u8; 32], &event).unwrap();
        seq += 1;
    };
    let mut policy: PolicyVersion = serde_json::from_str(POLICY).unwrap();
    policy.effective_at = t0;
    record(
        &mut state,
        &mut projection,
        Command::PolicyPublished(PublishPolicy { policy }),
        t0,
    );
    // Only the projection's memory is measured: the domain state used to
    // validate the generated events is dropped first.
    let who = |i: u32| {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        b[4] = 0x5a;
        Pseudonym::from_bytes(b)
    };
    let started = Instant::now();
    let mut events = Vec::with_capacity(subjects as usize * 5);
    for i in 0..subjects {
        let s = who(i);
        let at = Timestamp::from_micros(t0.as_micros() + 1 + i as i64);
        for v in [
            json!({"type": "policy_accepted", "subject": s, "policy_version": "2023-11-29", "method": "explicit", "channel": "web"}),
            json!({"type": "consent_granted", "subject": s, "purpose": "marketing", "data_categories": ["email-address", "name"], "policy_version": "2023-11-29", "channel": "web", "evidence": "ab".repeat(32)}),
            json!({"type": "consent_granted", "subject": s, "purpose": "partner-sharing", "data_categories": ["name"], "policy_version": "2023-11-29", "channel": "web"}),
            json!({"type": "consent_granted", "subject": s, "purpose": "affiliate-sharing", "data_categories": ["name", "account-usage"], "policy_version": "2023-11-29", "channel": "web"}),
            json!({"type": "objection_recorded", "subject": s, "purpose": "research-statistics", "channel": "web"}),
        ] {
            events.push((serde_json::from_value::<Command>(v).unwrap(), at));
        }
    }
    let mut applied = Vec::with_capacity(events.len());
    for (c, at) in events {
        let e = state.decide(c, at).unwrap();
        state.apply(&e, at);
        applied.push((e, at));
    }
    drop(state);
    let before = live_bytes();
    let fold_started = Instant::now();
    for (e, at) in &applied {
        projection.apply(seq, *at, [seq as u8; 32], e).unwrap();
        seq += 1;
    }
    let fold = fold_started.elapsed();
    let after = live_bytes();
    drop(applied);
    println!(
        "fold: {} entries into the projection in {:.2} s = {:.0} entries/s (generation {:.1} s)",
        subjects as u64 * 5,
        fold.as_secs_f64(),
        subjects as f64 * 5.0 / fold.as_secs_f64(),
        started.elapsed().as_secs_f64() - fold.as_secs_f64()
    );
    println!(
        "memory: {subjects} subjects x 5 purposes: the projection holds {:.0} MiB of heap = {:.0} bytes per subject",
        (after - before) as f64 / (1 << 20) as f64,
        (after - before) as f64 / subjects as f64
    );

    // Decisions: a realistic mix over random subjects, one core.
    let now = Timestamp::from_micros(t0.as_micros() + subjects as i64 + 10);
    let asks = [
        ("marketing", "email-address"),
        ("partner-sharing", "name"),
        ("online-services", "name"),
        ("research-statistics", "account-usage"),
        ("legal-disclosure", "name"),
        ("marketing", "phone-number"),
    ];
    let hot = subjects.min(10_000);
    let query_set = |spread: u32| -> Vec<Query> {
        (0..1_000_000u32)
            .map(|i| {
                let (p, c) = asks[i as usize % asks.len()];
                Query {
                    subject: who(i.wrapping_mul(2_654_435_761) % spread),
                    purpose: p.try_into().unwrap(),
                    data_category: c.try_into().unwrap(),
                    at: now,
                }
            })
            .collect()
    };
    let all = query_set(subjects);
    let hot_set = query_set(hot);
    for (label, queries, at_past) in [
        ("now, random subjects of all", &all, false),
        ("as of a past instant, random subjects of all", &all, true),
        ("now, the 10,000 most active subjects", &hot_set, false),
    ] {
        let started = Instant::now();
        let mut allowed = 0u64;
        for q in queries {
            let d = if at_past {
                let mut q = q.clone();
                q.at = Timestamp::from_micros(t0.as_micros() + subjects as i64 / 2);
                projection.decide(&q)
            } else {
                projection.decide(q)
            };
            allowed += d.allowed as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "decisions ({label}, one core): {} in {secs:.2} s = {:.0}/s, {:.0} ns each ({allowed} allowed)",
            queries.len(),
            queries.len() as f64 / secs,
            secs * 1e9 / queries.len() as f64
        );
    }
}

#!/usr/bin/env bash
# HTTP decision latency with wrk (a C load generator, so the client does not
# starve the server of the 2 cores): a fresh ledger with 10,000 subjects'
# grants, `consent serve` on loopback, wrk at 2, 4 and 32 connections.
# Needs wrk (`apt-get install wrk`) and a release build (`cargo build --release`).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
consent="$root/target/release/consent"
work="$(mktemp -d)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
"$consent" policy publish "$root/examples/reference-policy.json" > /dev/null
for i in $(seq 0 9999); do
  echo "{\"type\":\"consent_granted\",\"subject\":\"s$i\",\"purpose\":\"marketing\",\"data_categories\":[\"email-address\"],\"policy_version\":\"2023-11-29\",\"channel\":\"web\"}"
done | "$consent" append > /dev/null
KEY="$("$consent" api-key create --scopes decide | sed 's/.*"api_key":"\([^"]*\)".*/\1/')"
export KEY
port=18099
"$consent" serve --listen "127.0.0.1:$port" > /dev/null 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
for c in 2 4 32; do
  echo "== $c connections"
  wrk -t1 -c"$c" -d8s --latency -s "$root/benches/wrk/decision.lua" "http://127.0.0.1:$port" \
    | grep -E "Requests/sec|  50%|  99%"
done

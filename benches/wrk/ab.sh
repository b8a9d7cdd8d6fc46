#!/usr/bin/env bash
# Two `consent` binaries side by side on HTTP decisions: each gets its own
# fresh ledger of 10,000 granted subjects and a server on loopback; wrk
# runs alternately against each (which goes first alternates by round),
# and the server's CPU per request is read from /proc/<pid>/stat.
#
#   benches/wrk/ab.sh BEFORE_BINARY AFTER_BINARY [CONNECTIONS] [ROUNDS]
#
# Needs wrk (`apt-get install wrk`). With INSTRUCTIONS=1 it instead counts
# instructions per request of each binary under callgrind (`apt-get
# install valgrind`): 30 s of warm-up (every pseudonym cached), counters
# zeroed, 15 s of load at 2 connections, counters dumped and divided by
# the requests wrk made.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
before="$(realpath "$1")" after="$(realpath "$2")" connections=${3:-32} rounds=${4:-4}
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

ledger() { # binary dir
  mkdir -p "$2" && cd "$2"
  "$1" policy publish "$root/examples/reference-policy.json" > /dev/null
  for i in $(seq 0 9999); do
    echo "{\"type\":\"consent_granted\",\"subject\":\"s$i\",\"purpose\":\"marketing\",\"data_categories\":[\"email-address\"],\"policy_version\":\"2023-11-29\",\"channel\":\"web\"}"
  done | "$1" append > /dev/null
  "$1" api-key create --scopes decide | sed 's/.*"api_key":"\([^"]*\)".*/\1/' > key
  cd - > /dev/null
}

ready() { # port
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/healthz" > /dev/null && return; sleep 0.1; done
  echo "server on $1 did not start" >&2; exit 1
}

load() { # dir port connections seconds
  KEY="$(cat "$1/key")" wrk -t1 -c"$3" -d"$4"s --latency -s "$root/benches/wrk/decision.lua" "http://127.0.0.1:$2"
}

ledger "$before" "$work/before"
ledger "$after" "$work/after"

if [ "${INSTRUCTIONS:-0}" = 1 ]; then
  for side in before after; do
    binary=$before; [ $side = after ] && binary=$after
    cd "$work/$side"
    valgrind --tool=callgrind --callgrind-out-file="$work/$side.cg" "$binary" serve --listen 127.0.0.1:18120 > /dev/null 2>&1 &
    pid=$!; pids+=("$pid"); ready 18120
    load "$work/$side" 18120 2 30 > /dev/null
    callgrind_control -z "$pid" > /dev/null 2>&1
    requests=$(load "$work/$side" 18120 2 15 | awk '/requests in/{print $1}')
    callgrind_control -d "$pid" > /dev/null 2>&1
    kill -INT "$pid"; wait "$pid" || true
    total=$(callgrind_annotate "$work/$side.cg".1 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
    echo "$side: $requests requests, $((total / requests)) instructions per request"
    cd - > /dev/null
  done
  exit 0
fi

start() { # binary dir port
  cd "$2"; "$1" serve --listen "127.0.0.1:$3" > /dev/null 2>&1 &
  pids+=("$!"); echo "$!" > pid; cd - > /dev/null; ready "$3"
}
start "$before" "$work/before" 18121
start "$after" "$work/after" 18122
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$rounds"); do
  order="before after"; [ $((r % 2)) = 0 ] && order="after before"
  for side in $order; do
    port=18121; [ $side = after ] && port=18122
    pid=$(cat "$work/$side/pid"); c0=$(cpu "$pid")
    out=$(load "$work/$side" $port "$connections" 5)
    c1=$(cpu "$pid")
    n=$(echo "$out" | awk '/requests in/{print $1}')
    echo "round $r $side: $(echo "$out" | awk '/Requests\/sec/{print $2}') requests/s," \
      "p99 $(echo "$out" | awk '$1=="99%"{print $2}'), $(( (c1 - c0) * 10000 / n )) µs CPU/request"
  done
done

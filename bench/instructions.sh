#!/usr/bin/env bash
# Instructions per request (user space) of one page, counted by callgrind: repeatable for
# the same binary and input whatever else the machine is doing, unlike req/s on a shared
# 2-core VM (wrk runs of the same binary drift by 15 % here). Kernel time (socket writes,
# SQLite's file locks) is not counted: judge those with `cargo xtask bench`.
#
#   bench/instructions.sh BINARY [PATH...]      e.g. bench/instructions.sh target/release/oc-lettings /lettings/1/
#   METRICS_TOKEN=… bench/instructions.sh …     the same with /metrics on (its counting included)
#
# Runs BINARY `serve` under valgrind on a fresh SQLite database with the demo data, page
# cache off, JSON logs (as the image), 2 workers; sends N and N+1000 keep-alive requests
# (ab -c 4) in two runs and prints (instructions of the second - of the first) / 1000, so
# start-up and shutdown cancel out. Needs valgrind, ab (apache2-utils) and curl.
set -euo pipefail
binary=$(realpath "$1")
shift
paths=("${@:-/lettings/1/}")
work=$(mktemp -d /tmp/oc-instructions.XXXXXX)
trap 'rm -rf "$work"' EXIT

run() { # path requests -> total instructions
  local port=$((20000 + RANDOM % 20000)) out="$work/callgrind.$RANDOM"
  (cd "$work" && exec env PORT=$port WEB_CONCURRENCY=2 ALLOWED_HOSTS=127.0.0.1 \
    SECRET_KEY=instructions-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz \
    DATABASE_URL=sqlite://bench.sqlite3 PAGE_CACHE_SECONDS=0 LOG_FORMAT=json TRUSTED_PROXY_COUNT=1 \
    ${METRICS_TOKEN:+METRICS_TOKEN=$METRICS_TOKEN} \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" serve \
    >/dev/null 2>>"$work/log") &
  local pid=$!
  for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  ab -q -n "$2" -c 4 -k "http://127.0.0.1:$port$1" >"$work/ab" 2>&1
  grep -q "^Failed requests: *0" "$work/ab" || { echo "requests failed:" >&2; cat "$work/ab" >&2; exit 1; }
  kill -TERM "$pid"; wait "$pid" || true
  awk '/^summary:/ {s += $2} END {print s}' "$out"*
}

for path in "${paths[@]}"; do
  low=$(run "$path" 300)
  high=$(run "$path" 1300)
  echo "$path $(( (high - low) / 1000 )) instructions per request"
done

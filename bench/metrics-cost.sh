#!/usr/bin/env bash
# The cost of /metrics's counting (METRICS_TOKEN set) on throughput, interleaved: the same
# BINARY is started with and without METRICS_TOKEN, ROUNDS times each in turn, and wrk
# (64 connections, 2 threads, 5 s) loads PATH on it, the first of each pair alternating; prints each run's req/s and the
# median of each side. Interleaving spreads the machine's drift (15 % between wrk runs of
# one binary on this 2-core VM) over both sides.
#
#   bench/metrics-cost.sh BINARY [PATH] [ROUNDS]   e.g. bench/metrics-cost.sh target/image/x86_64-unknown-linux-musl/release/oc-lettings /lettings/ 5
#
# A fresh SQLite database with the demo data, the page cache on (as deployed), JSON logs
# (as the image), 2 workers. Needs wrk and curl.
set -euo pipefail
binary=$(realpath "$1")
path=${2:-/lettings/}
rounds=${3:-5}
work=$(mktemp -d /tmp/oc-metrics-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT

run() { # token-or-empty -> req/s
  local port=$((20000 + RANDOM % 20000))
  (cd "$work" && exec env PORT=$port WEB_CONCURRENCY=2 ALLOWED_HOSTS=127.0.0.1 \
    SECRET_KEY=metrics-cost-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz \
    DATABASE_URL=sqlite://bench.sqlite3 LOG_FORMAT=json METRICS_TOKEN="$1" \
    "$binary" serve >/dev/null 2>>"$work/log") &
  local pid=$!
  for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  wrk -t2 -c64 -d5s "http://127.0.0.1:$port$path" | awk '/^Requests\/sec/ {print $2}'
  if [ -n "$1" ]; then
    curl -fs -H "Authorization: Bearer $1" "http://127.0.0.1:$port/metrics" | grep -c '^oc_http_requests_total{' >/dev/null
  fi
  kill -TERM "$pid"; wait "$pid" || true
}

off=() on=()
token=metrics-cost-token-0123456789abcdef
for round in $(seq "$rounds"); do
  # Which side goes first alternates, so neither always gets the warmer machine.
  if [ $((round % 2)) -eq 1 ]; then
    off+=("$(run "")"); on+=("$(run "$token")")
  else
    on+=("$(run "$token")"); off+=("$(run "")")
  fi
  echo "round $round: off ${off[-1]} req/s, on ${on[-1]} req/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m_off=$(median "${off[@]}") m_on=$(median "${on[@]}")
echo "median: off $m_off req/s, on $m_on req/s, cost $(awk -v a="$m_off" -v b="$m_on" 'BEGIN {printf "%.1f", (a - b) / a * 100}') %"

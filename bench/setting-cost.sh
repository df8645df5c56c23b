#!/usr/bin/env bash
# The cost of a setting on throughput, interleaved: the same BINARY is started without and
# with SETTING=VALUE…, ROUNDS times each in turn, and wrk (64 connections, 2 threads, 5 s)
# loads PATH on it, the first of each pair alternating; prints each run's req/s and the
# median of each side. Interleaving spreads the machine's drift (15 % between wrk runs of
# one binary on this 2-core VM) over both sides.
#
#   bench/setting-cost.sh BINARY PATH ROUNDS SETTING=VALUE…
#   bench/setting-cost.sh target/image/x86_64-unknown-linux-musl/release/oc-lettings /lettings/ 6 METRICS_TOKEN=metrics-cost-token-0123456789abcdef
#   INGEST=1 bench/setting-cost.sh BINARY /lettings/1/ 6 SENTRY_TRACES_SAMPLE_RATE=1
#
# With INGEST=1 both sides report to a Sentry ingest on loopback (a small Python server
# that reads every envelope and answers 200, as Sentry does): SENTRY_DSN set on both, so
# only the settings differ (tracing: SENTRY_TRACES_SAMPLE_RATE 0 against 1); the envelopes
# received per side are printed, to show the setting did what it says.
#
# A fresh SQLite database with the demo data, the page cache on (as deployed), JSON logs
# (as the image), 2 workers. Needs wrk, curl (and python3 with INGEST=1).
set -euo pipefail
binary=$(realpath "$1")
path=${2:-/lettings/}
rounds=${3:-5}
shift 3 || true
settings=("$@")
work=$(mktemp -d /tmp/oc-setting-cost.XXXXXX)
ingest_pid=""
trap '[ -n "$ingest_pid" ] && kill "$ingest_pid" 2>/dev/null; rm -rf "$work"' EXIT

base=()
if [ "${INGEST:-0}" = 1 ]; then
  ingest_port=$((20000 + RANDOM % 20000))
  python3 - "$ingest_port" <<'PY' &
import sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
count = 0
lock = threading.Lock()
class Ingest(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            count += 1
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.end_headers(); self.wfile.write(b"{}")
    def do_GET(self):
        with lock:
            body = str(count).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Ingest).serve_forever()
PY
  ingest_pid=$!
  for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$ingest_port/" && break; sleep 0.1; done
  base=(SENTRY_DSN="http://public@127.0.0.1:$ingest_port/1" SENTRY_TRACES_SAMPLE_RATE=0)
fi
received() { [ -n "$ingest_pid" ] && curl -fs "http://127.0.0.1:$ingest_port/" || echo 0; }

run() { # on|off -> req/s (and, with the ingest, the envelopes it received)
  local port=$((20000 + RANDOM % 20000)) extra=()
  [ "$1" = on ] && extra=("${settings[@]}")
  local before; before=$(received)
  (cd "$work" && exec env PORT=$port WEB_CONCURRENCY=2 ALLOWED_HOSTS=127.0.0.1 \
    SECRET_KEY=setting-cost-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz \
    DATABASE_URL=sqlite://bench.sqlite3 LOG_FORMAT=json "${base[@]}" "${extra[@]}" \
    "$binary" serve >/dev/null 2>>"$work/log") &
  local pid=$!
  for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  local rate; rate=$(wrk -t2 -c64 -d5s "http://127.0.0.1:$port$path" | awk '/^Requests\/sec/ {print $2}')
  kill -TERM "$pid"; wait "$pid" || true
  if [ -n "$ingest_pid" ]; then echo "$rate $(( $(received) - before ))"; else echo "$rate"; fi
}

off=() on=()
for round in $(seq "$rounds"); do
  # Which side goes first alternates, so neither always gets the warmer machine.
  if [ $((round % 2)) -eq 1 ]; then
    a=$(run off); b=$(run on)
  else
    b=$(run on); a=$(run off)
  fi
  off+=("${a%% *}"); on+=("${b%% *}")
  if [ -n "$ingest_pid" ]; then
    echo "round $round: off ${a%% *} req/s (${a##* } envelopes), on ${b%% *} req/s (${b##* } envelopes)"
  else
    echo "round $round: off $a req/s, on $b req/s"
  fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m_off=$(median "${off[@]}") m_on=$(median "${on[@]}")
echo "median: off $m_off req/s, on (${settings[*]}) $m_on req/s, cost $(awk -v a="$m_off" -v b="$m_on" 'BEGIN {printf "%.1f", (a - b) / a * 100}') %"

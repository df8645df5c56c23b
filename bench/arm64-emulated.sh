#!/usr/bin/env bash
# The arm64 static binary's throughput UNDER EMULATION (qemu-user on this x86_64 machine),
# beside the amd64 binary run natively: a smoke figure for the cross-compiled build, not a
# measure of an ARM machine (Graviton runs it natively, several times faster than this).
# Usage: bench/arm64-emulated.sh [SECONDS] (needs wrk, qemu-user-static, and both binaries:
# cargo xtask docker build --platform linux/amd64,linux/arm64).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
amd64=target/image/x86_64-unknown-linux-musl/release/oc-lettings
arm64=target/image/aarch64-unknown-linux-musl/release/oc-lettings
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
for binary in "$amd64" "$arm64"; do
  [ -x "$binary" ] || { echo "no $binary: cargo xtask docker build --platform linux/amd64,linux/arm64" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

start() { # name port command...
  local name=$1 port=$2; shift 2
  env -i PATH="$PATH" DATABASE_URL="sqlite://$work/$name.sqlite3" PORT="$port" HOST=127.0.0.1 \
    SECRET_KEY="$(printf 'b%.0s' {1..50})" ALLOWED_HOSTS=127.0.0.1 LOG_FORMAT=json RUST_LOG=warn \
    PAGE_CACHE_SECONDS=0 "$@" serve >"$work/$name.log" 2>&1 &
  for _ in $(seq 1 240); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  echo "$name did not start: $(tail -3 "$work/$name.log")" >&2
  exit 1
}
start amd64 18081 "$amd64"
start arm64 18082 "$qemu" "$arm64"

echo "| path | amd64, native (req/s) | arm64 under qemu-user, emulated (req/s) | ratio |"
echo "|---|---:|---:|---:|"
for path in / /lettings/ /lettings/1/; do
  native=$(wrk -t2 -c16 -d"${seconds}s" "http://127.0.0.1:18081$path" | awk '/Requests\/sec/ {print $2}')
  emulated=$(wrk -t2 -c16 -d"${seconds}s" "http://127.0.0.1:18082$path" | awk '/Requests\/sec/ {print $2}')
  ratio=$(awk -v a="$emulated" -v b="$native" 'BEGIN { printf "%.2f", a / b }')
  echo "| \`$path\` | $native | $emulated | $ratio |"
done
ls -l "$amd64" "$arm64" | awk '{printf "%s: %.1f MB\n", $NF, $5 / 1e6}'

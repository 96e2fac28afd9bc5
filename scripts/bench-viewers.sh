#!/usr/bin/env bash
# Ingest with attached viewers (issue 13): the same load against a headless
# sink with 0, 1 and 4 viewers (`sinkwatch attach --no-tui`, output
# discarded), alternating rounds in one run; prints alerts/s and the ratio
# to the run without viewers. Also prints the viewers' peak RSS. Loopback.
#
#   scripts/bench-viewers.sh              # release build, 200k alerts/round, 3 rounds
#   SMOKE=1 scripts/bench-viewers.sh      # debug build, tiny sizes
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  TOTAL=${TOTAL:-2000}; ROUNDS=${ROUNDS:-1}; PROFILE=debug
  cargo build --quiet --bins
else
  TOTAL=${TOTAL:-200000}; ROUNDS=${ROUNDS:-3}; PROFILE=release
  cargo build --quiet --release --bins
fi
BIN=target/$PROFILE/sinkwatch
TMP=$(mktemp -d)
export XDG_STATE_HOME="$TMP/state" XDG_CONFIG_HOME="$TMP/config"
cleanup() {
  for f in "$TMP"/*.pid; do
    [ -f "$f" ] && kill -TERM "$(cat "$f" 2>/dev/null)" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 1200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench-viewers: $3 never happened" >&2; cat "$1" >&2; exit 1
}

# round VIEWERS: prints alerts/s of one load round.
round() {
  local n=$1
  "$BIN" --no-tui --listen 127.0.0.1:0 >/dev/null 2>"$TMP/sink.err" &
  echo $! >"$TMP/sink.pid"
  wait_for "$TMP/sink.err" "listening on" "the sink listening"
  local addr
  addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$TMP/sink.err" | head -n 1)
  for v in $(seq 1 "$n"); do
    "$BIN" attach --no-tui "http://$addr" >/dev/null 2>"$TMP/v$v.err" &
    echo $! >"$TMP/v$v.pid"
    wait_for "$TMP/v$v.err" ": live" "viewer $v live"
  done
  "$BIN" load --to "$addr" --total "$TOTAL" --concurrency 64 --json >"$TMP/load.json"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rate"])' "$TMP/load.json"
  for v in $(seq 1 "$n"); do
    local pid; pid=$(cat "$TMP/v$v.pid")
    grep VmHWM "/proc/$pid/status" | awk -v v="$v" '{print "  viewer " v " peak RSS " $2 " kB"}' >&2
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; rm -f "$TMP/v$v.pid"
  done
  kill -TERM "$(cat "$TMP/sink.pid")"; wait "$(cat "$TMP/sink.pid")" 2>/dev/null || true
  rm -f "$TMP/sink.pid"
}

declare -A sum=([0]=0 [1]=0 [4]=0)
for r in $(seq 1 "$ROUNDS"); do
  for n in 0 1 4; do
    rate=$(round "$n")
    echo "round $r, $n viewers: $rate alerts/s"
    sum[$n]=$(python3 -c "print(${sum[$n]} + $rate)")
  done
done
python3 - "${sum[0]}" "${sum[1]}" "${sum[4]}" "$ROUNDS" <<'PY'
import sys
base, one, four, rounds = (float(x) for x in sys.argv[1:5])
print(f"mean: no viewer {base/rounds:.0f}/s; 1 viewer {one/rounds:.0f}/s ({one/base:.2f}); "
      f"4 viewers {four/rounds:.0f}/s ({four/base:.2f})")
PY

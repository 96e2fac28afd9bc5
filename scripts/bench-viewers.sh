#!/usr/bin/env bash
# Ingest with attached viewers (issue 13): the same load against a headless
# sink with 0, 1 and 4 viewers (`sinkwatch attach --no-tui`, output
# discarded), alternating rounds in one run; prints alerts/s and the ratio
# to the run without viewers, and the CPU each process spent per alert
# (utime+stime from /proc): the sink's is its cost of serving viewers, the
# viewers' is their own (on this machine they share the sink's cores).
# Also prints the viewers' peak RSS. Loopback.
#
#   scripts/bench-viewers.sh              # release build, 200k alerts/round, 3 rounds
#   SMOKE=1 scripts/bench-viewers.sh      # debug build, tiny sizes
#   BIN=path/to/sinkwatch scripts/bench-viewers.sh   # that binary, no build
#   VIEWER_NICE=19 scripts/bench-viewers.sh
#       viewers at the lowest CPU priority: they use what the sink and the
#       load leave idle, the nearest this gets to viewers on other machines
#       (they fall behind during a round and catch up by resuming).
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=${SMOKE:-0}
VIEWER_NICE=${VIEWER_NICE:-0}
if [ "$SMOKE" = 1 ]; then
  TOTAL=${TOTAL:-2000}; ROUNDS=${ROUNDS:-1}; PROFILE=debug
  [ -n "${BIN:-}" ] || cargo build --quiet --bins
else
  TOTAL=${TOTAL:-200000}; ROUNDS=${ROUNDS:-3}; PROFILE=release
  [ -n "${BIN:-}" ] || cargo build --quiet --release --bins
fi
BIN=${BIN:-target/$PROFILE/sinkwatch}
TMP=$(mktemp -d)
export XDG_STATE_HOME="$TMP/state" XDG_CONFIG_HOME="$TMP/config"
SCRIPT=bench-viewers
. scripts/lib.sh
trap stop_all EXIT
TICK=$(getconf CLK_TCK)

# round VIEWERS: prints "alerts/s sink-µs/alert viewer-µs/alert" of one
# load round (the viewers' figure is per viewer, averaged).
round() {
  local n=$1
  "$BIN" --no-tui --listen 127.0.0.1:0 >/dev/null 2>"$TMP/sink.err" &
  echo $! >"$TMP/sink.pid"
  local addr sink
  addr=$(listen_addr "$TMP/sink.err" "the sink")
  sink=$(cat "$TMP/sink.pid")
  for v in $(seq 1 "$n"); do
    nice -n "$VIEWER_NICE" "$BIN" attach --no-tui "http://$addr" >/dev/null 2>"$TMP/v$v.err" &
    echo $! >"$TMP/v$v.pid"
    wait_for "$TMP/v$v.err" ": live" "viewer $v live"
  done
  local s0 v0=0 s1 v1
  s0=$(cpu_ticks "$sink")
  for v in $(seq 1 "$n"); do v0=$(( v0 + $(cpu_ticks "$(cat "$TMP/v$v.pid")") )); done
  "$BIN" load --to "$addr" --total "$TOTAL" --concurrency 64 --json >"$TMP/load.json"
  # The viewers' CPU once it stops rising: they have everything (a niced
  # viewer catches up after the round).
  local prev=-1 now
  for _ in $(seq 1 300); do
    now=0
    for v in $(seq 1 "$n"); do now=$(( now + $(cpu_ticks "$(cat "$TMP/v$v.pid")") )); done
    [ "$now" = "$prev" ] && break
    prev=$now
    sleep 0.2
  done
  v1=$now
  # After the catching up, which the sink serves too.
  s1=$(cpu_ticks "$sink")
  python3 - "$TMP/load.json" "$s0" "$s1" "$v0" "$v1" "$n" "$TOTAL" "$TICK" <<'PY'
import json, sys
f, s0, s1, v0, v1, n, total, tick = sys.argv[1:9]
rate = json.load(open(f))["rate"]
us = lambda t: float(t) / float(tick) * 1e6 / float(total)
sink = us(int(s1) - int(s0))
viewer = us(int(v1) - int(v0)) / int(n) if int(n) else 0.0
print(f"{rate} {sink:.1f} {viewer:.1f}")
PY
  for v in $(seq 1 "$n"); do
    local pid; pid=$(cat "$TMP/v$v.pid")
    grep VmHWM "/proc/$pid/status" | awk -v v="$v" '{print "  viewer " v " peak RSS " $2 " kB"}' >&2
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; rm -f "$TMP/v$v.pid"
  done
  kill -TERM "$sink"; wait "$sink" 2>/dev/null || true
  rm -f "$TMP/sink.pid"
}

declare -A sum=([0]=0 [1]=0 [4]=0) cpu=([0]=0 [1]=0 [4]=0) vcpu=([0]=0 [1]=0 [4]=0)
for r in $(seq 1 "$ROUNDS"); do
  for n in 0 1 4; do
    read -r rate scpu viewer < <(round "$n")
    echo "round $r, $n viewers: $rate alerts/s; sink CPU $scpu µs/alert; each viewer $viewer µs/alert"
    sum[$n]=$(python3 -c "print(${sum[$n]} + $rate)")
    cpu[$n]=$(python3 -c "print(${cpu[$n]} + $scpu)")
    vcpu[$n]=$(python3 -c "print(${vcpu[$n]} + $viewer)")
  done
done
python3 - "${sum[0]}" "${sum[1]}" "${sum[4]}" "$ROUNDS" \
  "${cpu[0]}" "${cpu[1]}" "${cpu[4]}" "${vcpu[1]}" "${vcpu[4]}" <<'PY'
import sys
base, one, four, rounds, c0, c1, c4, v1, v4 = (float(x) for x in sys.argv[1:10])
print(f"mean: no viewer {base/rounds:.0f}/s; 1 viewer {one/rounds:.0f}/s ({one/base:.2f}); "
      f"4 viewers {four/rounds:.0f}/s ({four/base:.2f})")
print(f"sink CPU per alert: {c0/rounds:.1f} µs; with 1 viewer {c1/rounds:.1f} µs ({c1/c0:.2f}); "
      f"with 4 {c4/rounds:.1f} µs ({c4/c0:.2f}); each viewer {v1/rounds:.1f} / {v4/rounds:.1f} µs")
PY

#!/usr/bin/env bash
# Ingest with attached viewers: the same load against a headless sink with
# 0, 1 and 4 viewers, and against the do-nothing tonic sink of
# scripts/bench.sh (examples/bare_sink.rs), alternating in one run; prints
# alerts/s and its ratio to the run without viewers and to the bare sink,
# the sink's own CPU per alert and its ratio to the run without viewers,
# each viewer's CPU per alert (utime+stime from /proc), and the viewers'
# peak RSS. Loopback.
#
# Viewers come in three kinds (KINDS, all by default), each a sinkwatch
# process on the same cores as the sink and the load generator:
#   plain  `sinkwatch attach --no-tui`, its JSON lines discarded
#   niced  the same at nice 19: it gets a small share of the cores while
#          the sink and the load keep them busy
#   idle   the same under SCHED_IDLE (chrt --idle 0): it runs only when a
#          core would otherwise idle and never preempts the sink or the
#          load, the nearest this gets to viewers on other machines (they
#          fall behind during a round and catch up after it, by resuming)
#   filtered  `sinkwatch attach --no-tui --filter "$FILTER"`: the sink
#          filters for it (a filter that searches text takes turns in the
#          sink's filter lane); FILTER defaults to `check failed`, which
#          searches each alert's text and passes the failing ~1 in 8
#   tui    `sinkwatch attach` running the real TUI in a 200×50
#          pseudo-terminal (script(1)), as scripts/bench.sh runs the TUI sink
# A real deployment runs viewers on laptops, not on the sink's cores: the
# sink's CPU ratio is what serving them costs the sink; the throughput
# ratio also carries the viewers' own CPU taken from the same two cores.
#
# APART=1 measures that deployment instead: every sink of the run (the bare
# one too) and the load generator are pinned to SINK_CPUS (default 0) and
# every viewer to VIEWER_CPUS (default 1), so viewers take nothing from the
# cores the ratios are measured on, as viewers on other machines would not;
# the bare and no-viewer rounds are pinned the same way, so the ratios
# compare like with like (one core is slower than two: only ratios compare
# with a run without APART).
#
#   scripts/bench-viewers.sh              # release build, 200k alerts/round, 3 rounds
#   TOTAL=100000 ROUNDS=2 KINDS="plain tui" scripts/bench-viewers.sh
#   SMOKE=1 scripts/bench-viewers.sh      # debug build, tiny sizes
#   APART=1 KINDS=plain scripts/bench-viewers.sh   # viewers on a core of their own
#   BIN=path/to/sinkwatch scripts/bench-viewers.sh   # that binary, no build
#   SNAPSHOT=1 scripts/bench-viewers.sh
#       instead: a sink holding 1,000,000 alerts over 90,000 keys
#       (SNAPSHOT_TOTAL, SNAPSHOT_REPOS×9), then one `attach --no-tui`:
#       the time until it is live, the bytes it read, the sink's RSS
#       before and with the viewer; then four viewers attached under load
#       (TOTAL more alerts), the sink's RSS per viewer, and its RSS when one
#       of them is stopped (SIGSTOP) for TOTAL more.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=${SMOKE:-0}
KINDS=${KINDS:-plain niced idle filtered tui}
FILTER=${FILTER:-check failed}
if [ "$SMOKE" = 1 ]; then
  TOTAL=${TOTAL:-2000}; ROUNDS=${ROUNDS:-1}; PROFILE=debug
  SNAPSHOT_TOTAL=${SNAPSHOT_TOTAL:-20000}; SNAPSHOT_REPOS=${SNAPSHOT_REPOS:-200}
  [ -n "${BIN:-}" ] || cargo build --quiet --bins --example bare_sink
else
  TOTAL=${TOTAL:-200000}; ROUNDS=${ROUNDS:-3}; PROFILE=release
  SNAPSHOT_TOTAL=${SNAPSHOT_TOTAL:-1000000}; SNAPSHOT_REPOS=${SNAPSHOT_REPOS:-10000}
  [ -n "${BIN:-}" ] || cargo build --quiet --release --bins --example bare_sink
fi
BIN=${BIN:-target/$PROFILE/sinkwatch}
# The do-nothing tonic AlertSink of scripts/bench.sh, a second baseline.
BARE=${BARE:-target/$PROFILE/examples/bare_sink}
if [ ! -x "$BARE" ]; then
  if [ "$PROFILE" = release ]; then cargo build --quiet --release --example bare_sink
  else cargo build --quiet --example bare_sink; fi
fi
TMP=$(mktemp -d)
export XDG_STATE_HOME="$TMP/state" XDG_CONFIG_HOME="$TMP/config"
SCRIPT=bench-viewers
. scripts/lib.sh
trap stop_all EXIT
TICK=$(getconf CLK_TCK)
# What runs on the sink's side (sinks, load) and on the viewers' (APART).
ON_SINK=() ON_VIEWERS=()
if [ "${APART:-0}" = 1 ]; then
  command -v taskset >/dev/null 2>&1 || { echo "$SCRIPT: APART=1 needs taskset (util-linux)" >&2; exit 2; }
  ON_SINK=(taskset -c "${SINK_CPUS:-0}") ON_VIEWERS=(taskset -c "${VIEWER_CPUS:-1}")
  echo "$SCRIPT: apart: sinks and load on CPU ${SINK_CPUS:-0}, viewers on CPU ${VIEWER_CPUS:-1}" >&2
fi
if [[ " $KINDS " == *" tui "* ]] && ! command -v script >/dev/null 2>&1; then
  echo "$SCRIPT: no script(1): the tui kind is skipped" >&2
  KINDS=${KINDS//tui/}
fi

# The sink's log (viewers attaching are logged there, TUI viewers have no
# stderr to watch).
attached() {
  cat "$TMP"/state/sinkwatch/sinkwatch*.log 2>/dev/null | grep -c "attached (snapshot)" || true
}

# start_viewer V KIND ADDR: viewer number V of that kind; leaves its pid (the
# sinkwatch process itself) in $TMP/vV.pid, returns once it is attached.
start_viewer() {
  local v=$1 kind=$2 addr=$3 before
  before=$(attached)
  case $kind in
    plain|niced|idle|filtered)
      local sched=(nice -n 0) filter=(); [ "$kind" = niced ] && sched=(nice -n 19)
      [ "$kind" = idle ] && sched=(chrt --idle 0)
      [ "$kind" = filtered ] && filter=(--filter "$FILTER")
      "${ON_VIEWERS[@]}" "${sched[@]}" "$BIN" attach --no-tui "${filter[@]}" "http://$addr" >/dev/null 2>"$TMP/v$v.err" &
      echo $! >"$TMP/v$v.pid"
      wait_for "$TMP/v$v.err" ": live" "viewer $v live"
      ;;
    tui)
      TERM=xterm-256color "${ON_VIEWERS[@]}" script -qfec "stty cols 200 rows 50; exec '$BIN' attach 'http://$addr'" \
        /dev/null >/dev/null 2>&1 &
      echo $! >"$TMP/s$v.pid"
      local pid=""
      for _ in $(seq 1 600); do
        # script(1) runs the shell that execs sinkwatch: its child.
        pid=$(pgrep -P "$(cat "$TMP/s$v.pid")" | head -n 1 || true)
        [ -n "$pid" ] && [ "$(attached)" -gt "$before" ] && break
        sleep 0.05
      done
      [ -n "$pid" ] && [ "$(attached)" -gt "$before" ] || { echo "$SCRIPT: TUI viewer $v never attached" >&2; exit 1; }
      echo "$pid" >"$TMP/v$v.pid"
      ;;
  esac
}

stop_viewer() {
  local pid; pid=$(cat "$TMP/v$1.pid")
  kill -TERM "$pid" 2>/dev/null || true
  if [ -f "$TMP/s$1.pid" ]; then wait "$(cat "$TMP/s$1.pid")" 2>/dev/null || true; rm -f "$TMP/s$1.pid"
  else wait "$pid" 2>/dev/null || true; fi
  rm -f "$TMP/v$1.pid"
}

viewers_cpu() {
  local sum=0
  for v in $(seq 1 "$1"); do sum=$(( sum + $(cpu_ticks "$(cat "$TMP/v$v.pid")") )); done
  echo "$sum"
}

start_sink() {
  rm -rf "$TMP/state"
  if [ "${1:-}" = bare ]; then
    "${ON_SINK[@]}" "$BARE" 127.0.0.1:0 >/dev/null 2>"$TMP/sink.err" &
  else
    "${ON_SINK[@]}" "$BIN" --no-tui --listen 127.0.0.1:0 "$@" >/dev/null 2>"$TMP/sink.err" &
  fi
  echo $! >"$TMP/sink.pid"
  ADDR=$(listen_addr "$TMP/sink.err" "the sink")
  SINK=$(cat "$TMP/sink.pid")
}

stop_sink() {
  kill -TERM "$SINK"; wait "$SINK" 2>/dev/null || true
  rm -f "$TMP/sink.pid"
}

# round VIEWERS KIND: prints "alerts/s sink-µs/alert viewer-µs/alert" of one
# load round (the viewers' figure is per viewer, averaged).
round() {
  local n=$1 kind=$2
  if [ "$kind" = bare ]; then start_sink bare; else start_sink; fi
  for v in $(seq 1 "$n"); do start_viewer "$v" "$kind" "$ADDR"; done
  local s0 v0 s1 v1
  s0=$(cpu_ticks "$SINK")
  v0=$(viewers_cpu "$n")
  "${ON_SINK[@]}" "$BIN" load --to "$ADDR" --total "$TOTAL" --concurrency 64 --json >"$TMP/load.json"
  # The viewers' CPU once it stops rising: they have everything (a niced
  # viewer catches up after the round). A TUI at rest still draws now and
  # then: a tick or less per viewer in 0.4 s counts as at rest.
  local prev=-1 prev2=-1 now
  for _ in $(seq 1 300); do
    now=$(viewers_cpu "$n")
    [ "$prev2" -ge 0 ] && [ $(( now - prev2 )) -le "$n" ] && break
    prev2=$prev; prev=$now
    sleep 0.2
  done
  v1=$now
  # After the catching up, which the sink serves too.
  s1=$(cpu_ticks "$SINK")
  python3 - "$TMP/load.json" "$s0" "$s1" "$v0" "$v1" "$n" "$TOTAL" "$TICK" <<'PY'
import json, sys
f, s0, s1, v0, v1, n, total, tick = sys.argv[1:9]
rate = json.load(open(f))["rate"]
us = lambda t: float(t) / float(tick) * 1e6 / float(total)
sink = us(int(s1) - int(s0))
viewer = us(int(v1) - int(v0)) / int(n) if int(n) else 0.0
print(f"{rate:.0f} {sink:.2f} {viewer:.2f}")
PY
  for v in $(seq 1 "$n"); do
    grep VmHWM "/proc/$(cat "$TMP/v$v.pid")/status" | awk '{print $2}' >>"$TMP/rss.$kind"
    stop_viewer "$v"
  done
  stop_sink
}

# snapshot: the SNAPSHOT=1 run.
snapshot() {
  start_sink --history "$SNAPSHOT_TOTAL"
  "$BIN" load --to "$ADDR" --total "$SNAPSHOT_TOTAL" --repos "$SNAPSHOT_REPOS" --concurrency 64 --json >"$TMP/load.json"
  local rss0; rss0=$(awk '/VmRSS/{print $2}' "/proc/$SINK/status")
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" attach --no-tui "http://$ADDR" >/dev/null 2>"$TMP/v1.err" &
  echo $! >"$TMP/v1.pid"
  # Polled every 10 ms: the time is to within that.
  for _ in $(seq 1 6000); do
    grep -qs ": live" "$TMP/v1.err" && break
    sleep 0.01
  done
  t1=$(date +%s.%N)
  grep -q ": live" "$TMP/v1.err" || { echo "$SCRIPT: the viewer never went live" >&2; cat "$TMP/v1.err" >&2; exit 1; }
  local pid; pid=$(cat "$TMP/v1.pid")
  # What it received on its connection to the sink (socket reads are not
  # in /proc/PID/io).
  local bytes
  bytes=$(ss -tinpH "( dport = :${ADDR##*:} )" 2>/dev/null | grep -A1 "pid=$pid," \
    | grep -o 'bytes_received:[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s + 0}')
  local vrss; vrss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  local rss1; rss1=$(awk '/VmHWM/{print $2}' "/proc/$SINK/status")
  stop_viewer 1
  python3 -c "print(f'snapshot of $SNAPSHOT_TOTAL alerts: live after {$t1 - $t0:.2f} s, viewer read {$bytes/1e6:.1f} MB; sink RSS {$rss0/1024:.0f} MB before, peak {$rss1/1024:.0f} MB with the viewer; viewer peak RSS {$vrss/1024:.0f} MB')"
  # Four viewers, live, under load: the sink's RSS with them.
  local base; base=$(awk '/VmRSS/{print $2}' "/proc/$SINK/status")
  for v in 1 2 3 4; do start_viewer "$v" plain "$ADDR"; done
  "$BIN" load --to "$ADDR" --total "$TOTAL" --repos "$SNAPSHOT_REPOS" --concurrency 64 --json >/dev/null
  local with; with=$(awk '/VmRSS/{print $2}' "/proc/$SINK/status")
  python3 -c "print(f'sink RSS {$base/1024:.0f} MB without viewers, {$with/1024:.0f} MB with 4 live viewers after {$TOTAL} more alerts: {($with - $base)/4/1024:.1f} MB per viewer')"
  # One of them stalled (SIGSTOP) while as many again arrive: what the
  # sink holds for it stays bounded (it is told what it missed).
  kill -STOP "$(cat "$TMP/v1.pid")"
  "$BIN" load --to "$ADDR" --total "$TOTAL" --repos "$SNAPSHOT_REPOS" --concurrency 64 --json >/dev/null
  local stalled; stalled=$(awk '/VmRSS/{print $2}' "/proc/$SINK/status")
  kill -CONT "$(cat "$TMP/v1.pid")"
  for v in 1 2 3 4; do stop_viewer "$v"; done
  python3 -c "print(f'with one of them stopped (SIGSTOP) for {$TOTAL} more alerts: sink RSS {$stalled/1024:.0f} MB ({($stalled - $with)/1024:+.1f} MB)')"
  stop_sink
}

if [ "${SNAPSHOT:-0}" = 1 ]; then
  snapshot
  exit 0
fi

declare -A sum cpu vcpu
sum[0]=0; cpu[0]=0; sum[bare]=0; cpu[bare]=0
for k in $KINDS; do for n in 1 4; do sum[$k$n]=0; cpu[$k$n]=0; vcpu[$k$n]=0; done; : >"$TMP/rss.$k"; done
for r in $(seq 1 "$ROUNDS"); do
  runs="bare 0"
  for k in $KINDS; do runs="$runs $k:1 $k:4"; done
  for run in $runs; do
    n=${run#*:}; k=${run%:*}; [ "$run" = 0 ] && { n=0; k=none; }
    [ "$run" = bare ] && { n=0; k=bare; }
    read -r rate scpu viewer < <(round "$n" "$k")
    echo "round $r, $n viewers ($k): $rate alerts/s; sink CPU $scpu µs/alert; each viewer $viewer µs/alert"
    id=$k$n; [ "$n" = 0 ] && id=0; [ "$k" = bare ] && id=bare
    sum[$id]=$(python3 -c "print(${sum[$id]} + $rate)")
    cpu[$id]=$(python3 -c "print(${cpu[$id]} + $scpu)")
    [ "$n" = 0 ] || vcpu[$id]=$(python3 -c "print(${vcpu[$id]} + $viewer)")
  done
done
echo
# ratio: to sinkwatch without viewers; to bare: to the do-nothing tonic sink.
printf '%-8s %7s %10s %8s %8s %14s %8s %14s %16s\n' kind viewers alerts/s ratio "to bare" "sink µs/alert" ratio "viewer µs/alert" "viewer peak RSS"
python3 -c "print(f'{\"bare\":8} {0:7} {${sum[bare]}/$ROUNDS:10.0f} {${sum[bare]}/${sum[0]}:8.2f} {1:8.2f} {${cpu[bare]}/$ROUNDS:14.2f}')"
python3 -c "print(f'{\"-\":8} {0:7} {${sum[0]}/$ROUNDS:10.0f} {1:8.2f} {${sum[0]}/${sum[bare]}:8.2f} {${cpu[0]}/$ROUNDS:14.2f} {1:8.2f}')"
for k in $KINDS; do
  rss=$(sort -n "$TMP/rss.$k" | awk 'NR==1{lo=$1} {hi=$1} END{printf "%.0f–%.0f MB", lo/1024, hi/1024}')
  for n in 1 4; do
    python3 -c "print(f'{\"$k\":8} {$n:7} {${sum[$k$n]}/$ROUNDS:10.0f} {${sum[$k$n]}/${sum[0]}:8.2f} {${sum[$k$n]}/${sum[bare]}:8.2f} {${cpu[$k$n]}/$ROUNDS:14.2f} {${cpu[$k$n]}/${cpu[0]}:8.2f} {${vcpu[$k$n]}/$ROUNDS:14.2f}   $rss')"
  done
done

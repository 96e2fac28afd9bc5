#!/usr/bin/env bash
# kill -9 under load (issue 12): what a killed `--state` sink loses.
#
# Each round starts a headless sink with `--state FILE`, sends it an
# unthrottled `sinkwatch load` (64 calls in flight over 4 connections) and
# kills it with SIGKILL — either once its state writer holds at least MIN
# uncommitted alerts (read from its metrics: the case where the SQL stage
# is behind), or AFTER seconds into the load. Then it counts, with
# `sinkwatch export`: the alerts the load was answered OK for, those
# committed in the file at the kill, and those stored after a restart
# (which replays the spool). "missing" = answered − stored after the
# restart; the target is at most one batch (2,048).
#
#   scripts/bench-kill9.sh                  # release build, 3 rounds of each kind
#   ROUNDS=5 MIN=50000 scripts/bench-kill9.sh
#   BIN=path/to/sinkwatch scripts/bench-kill9.sh   # that binary, no build
#   SMOKE=1 scripts/bench-kill9.sh          # debug build, one round, small (CI)
# TOTAL (alerts the load sends; what is left after the kill fails at once)
# must outlast the mark and AFTER.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  ROUNDS=${ROUNDS:-1}; MIN=${MIN:-3000}; AFTER=${AFTER:-1}; TOTAL=${TOTAL:-20000}; PROFILE=debug
  [ -n "${BIN:-}" ] || cargo build --quiet --bins
else
  ROUNDS=${ROUNDS:-3}; MIN=${MIN:-20000}; AFTER=${AFTER:-3}; TOTAL=${TOTAL:-400000}; PROFILE=release
  [ -n "${BIN:-}" ] || cargo build --quiet --release --bins
fi
BIN=${BIN:-target/$PROFILE/sinkwatch}
TMP=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
export XDG_STATE_HOME="$TMP/xdg"

# The address after `prefix` in the sink's readiness lines on stderr.
addr_after() {
  local file=$1 prefix=$2
  for _ in $(seq 1 600); do
    local a
    a=$(sed -n "s|.*$prefix\([0-9.:]*\).*|\1|p" "$file" | head -1)
    if [ -n "$a" ]; then echo "$a"; return; fi
    sleep 0.05
  done
  echo "no '$prefix' line in $file" >&2; exit 1
}

# One sample of the sink's metrics (plain HTTP/1.1 with bash's /dev/tcp).
metric() {
  local addr=$1 name=$2
  exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"
  printf 'GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
  awk -v n="$name" '$1 == n { print $2 }' <&3
  exec 3<&-
}

stored() { "$BIN" export --state "$1" 2>/dev/null | wc -l; }

round() {
  local kind=$1 n=$2 db="$TMP/$1-$2.db"
  "$BIN" --no-tui --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --state "$db" \
    >/dev/null 2>"$TMP/sink.err" &
  local sink=$!
  local addr metrics
  addr=$(addr_after "$TMP/sink.err" "listening on ")
  metrics=$(addr_after "$TMP/sink.err" "metrics on http://")
  "$BIN" load --to "http://$addr" --total "$TOTAL" --concurrency 64 --connections 4 --json \
    >"$TMP/load.json" 2>/dev/null &
  local load=$! backlog=0
  if [ "$kind" = backlog ]; then
    # Until the mark, or until the load ends (a writer that keeps up).
    while [ "${backlog:-0}" -lt "$MIN" ] && kill -0 "$load" 2>/dev/null; do
      backlog=$(metric "$metrics" sinkwatch_state_backlog)
      sleep 0.01
    done
  else
    sleep "$AFTER"
    backlog=$(metric "$metrics" sinkwatch_state_backlog)
  fi
  kill -9 "$sink"
  wait "$sink" 2>/dev/null || true
  wait "$load" || true
  local answered committed after
  answered=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' "$TMP/load.json")
  committed=$(stored "$db")
  "$BIN" --no-tui --listen 127.0.0.1:0 --state "$db" >/dev/null 2>"$TMP/restart.err" &
  local again=$!
  addr_after "$TMP/restart.err" "listening on " >/dev/null
  kill -INT "$again"
  wait "$again" || true
  after=$(stored "$db")
  printf '%-8s %2d  backlog>=%-7s answered %-8s committed at kill %-8s after restart %-8s missing %s\n' \
    "$kind" "$n" "$backlog" "$answered" "$committed" "$after" "$((answered - after))"
  rm -f "$db"*
}

echo "kill -9 of a --state sink under an unthrottled load ($BIN)"
for n in $(seq 1 "$ROUNDS"); do round backlog "$n"; done
for n in $(seq 1 "$ROUNDS"); do round after "$n"; done

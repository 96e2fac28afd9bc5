#!/usr/bin/env bash
# End-to-end benchmarks (targets and results in BENCHMARKS.md): sinkwatch against a do-nothing
# tonic AlertSink (examples/bare_sink.rs) under the same load, in the same
# run, with alternating rounds. Prints each figure and its ratio to the
# baseline. Loopback only.
#
#   scripts/bench.sh                 # full run (release build, 200k alerts/round, 3 rounds)
#   TOTAL=500000 ROUNDS=5 scripts/bench.sh
#   SMOKE=1 scripts/bench.sh         # tiny sizes on the debug build (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  TOTAL=${TOTAL:-2000}; ROUNDS=${ROUNDS:-1}; PROFILE=debug
  cargo build --quiet --bins --examples
else
  TOTAL=${TOTAL:-200000}; ROUNDS=${ROUNDS:-3}; PROFILE=release
  cargo build --quiet --release --bins --examples
fi
CONC=${CONC:-64}
SEQ_TOTAL=${SEQ_TOTAL:-$(( TOTAL / 20 ))}
BIN=target/$PROFILE/sinkwatch
BARE=target/$PROFILE/examples/bare_sink
TMP=$(mktemp -d)
export XDG_STATE_HOME="$TMP/state" XDG_CONFIG_HOME="$TMP/config"

cleanup() {
  for f in "$TMP"/*.pid; do
    [ -f "$f" ] && kill -INT "$(cat "$f")" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# start NAME CMD...: runs CMD in the background with stderr to $TMP/NAME.err,
# waits for its "listening on ADDR" readiness line, sets $ADDR.
start() {
  local name=$1; shift
  "$@" 2>"$TMP/$name.err" &
  echo $! >"$TMP/$name.pid"
  ADDR=""
  for _ in $(seq 1 600); do
    ADDR=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$TMP/$name.err" | head -n 1)
    [ -n "$ADDR" ] && return 0
    kill -0 "$(cat "$TMP/$name.pid")" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench: $name did not start:" >&2
  cat "$TMP/$name.err" >&2
  exit 1
}

stop() { # stop NAME: SIGTERM and wait
  local pid; pid=$(cat "$TMP/$1.pid")
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$TMP/$1.pid"
}

json_num() { # json_num KEY < json : first number after "KEY":
  sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" | head -n 1
}

# cpu_ms PID...: CPU time (user + system) used so far by the processes, in ms.
cpu_ms() {
  local total=0 pid t
  for pid in "$@"; do
    [ -n "$pid" ] || continue
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$(( total + t ))
  done
  echo $(( total * 1000 / $(getconf CLK_TCK) ))
}

declare -A cpu_us
# note_cpu KEY BEFORE_MS AFTER_MS N: keeps the lowest CPU µs per alert seen.
note_cpu() {
  local us; us=$(awk -v a="$2" -v b="$3" -v n="$4" 'BEGIN{ if (n>0) printf "%.1f", (b-a)*1000/n; else print 0 }')
  local cur=${cpu_us[$1]:-}
  if [ -z "$cur" ] || awk -v a="$us" -v b="$cur" 'BEGIN{exit !(a<b)}'; then cpu_us[$1]=$us; fi
}

load() { # load ADDR TOTAL CONC [CONNS [ARGS…]] -> prints the JSON report
  local addr=$1 total=$2 conc=$3 conns=${4:-4}
  shift 3; [ $# -gt 0 ] && shift
  "$BIN" load --to "$addr" --total "$total" --concurrency "$conc" --connections "$conns" --json "$@"
}

# OIDC: an RS256 identity token and its JWKS, minted here with openssl; the
# "oidc" mode is a headless sink verifying it on every call (the verdict is
# cached per token, as for a real client reusing its token).
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/oidc.key" 2>/dev/null
modulus=$(openssl rsa -in "$TMP/oidc.key" -noout -modulus | cut -d= -f2)
# shellcheck disable=SC2059
n=$(printf "$(echo "$modulus" | sed 's/../\\x&/g')" | b64url)
printf '{"keys":[{"kty":"RSA","kid":"bench","alg":"RS256","use":"sig","n":"%s","e":"AQAB"}]}' "$n" >"$TMP/jwks.json"
jwt_head=$(printf '{"alg":"RS256","kid":"bench","typ":"JWT"}' | b64url)
jwt_body=$(printf '{"iss":"https://issuer.bench","aud":"bench","sub":"bench","exp":%d}' $(( $(date +%s) + 86400 )) | b64url)
jwt_sig=$(printf '%s.%s' "$jwt_head" "$jwt_body" | openssl dgst -sha256 -sign "$TMP/oidc.key" -binary | b64url)
echo "$jwt_head.$jwt_body.$jwt_sig" >"$TMP/oidc.jwt"

start bare "$BARE" 127.0.0.1:0;                               BARE_ADDR=$ADDR
start headless sh -c "exec '$BIN' --no-tui --listen 127.0.0.1:0 >'$TMP/headless.out'"; HEADLESS_ADDR=$ADDR
start oidc sh -c "exec '$BIN' --no-tui --listen 127.0.0.1:0 --oidc-issuer https://issuer.bench --oidc-audience bench --oidc-jwks '$TMP/jwks.json' --oidc-allow bench >'$TMP/oidc.out'"; OIDC_ADDR=$ADDR
start upstream sh -c "exec '$BIN' --no-tui --listen 127.0.0.1:0 >'$TMP/upstream.out'"; UP_ADDR=$ADDR
# State: headless with durable state (SQLite) on, the rest as headless.
# Its metrics endpoint says when the writer has caught up (see wait_state).
start state sh -c "exec '$BIN' --no-tui --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --state '$TMP/state.db' >'$TMP/state.out'"; STATE_ADDR=$ADDR
STATE_METRICS=$(sed -n 's/.*metrics on \(http:[^ ]*\).*/\1/p' "$TMP/state.err" | head -n 1)
start tee sh -c "exec '$BIN' --no-tui --listen 127.0.0.1:0 --forward 'http://$UP_ADDR' >'$TMP/tee.out'"; TEE_ADDR=$ADDR
TUI_ADDR=""; TUI_PID=""
if command -v script >/dev/null 2>&1; then
  # The TUI renders into a real pseudo-terminal (200×50) at the default fps.
  TERM=xterm-256color script -qfec "stty cols 200 rows 50; exec '$BIN' --listen 127.0.0.1:0 2>'$TMP/tui.err'" /dev/null >/dev/null 2>&1 &
  echo $! >"$TMP/tui.pid"
  for _ in $(seq 1 600); do
    TUI_ADDR=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$TMP/tui.err" 2>/dev/null | head -n 1 || true)
    [ -n "$TUI_ADDR" ] && break
    sleep 0.05
  done
  # script(1) runs the shell that execs sinkwatch: its child.
  TUI_PID=$(pgrep -P "$(cat "$TMP/tui.pid")" | head -n 1 || true)
fi

# pids MODE: the processes doing that mode's work (tee: the tee and its upstream).
pids() {
  case $1 in
    bare|bare_token) cat "$TMP/bare.pid" ;; headless) cat "$TMP/headless.pid" ;; oidc) cat "$TMP/oidc.pid" ;; state) cat "$TMP/state.pid" ;;
    tui) echo "$TUI_PID" ;; tee) echo "$(cat "$TMP/tee.pid") $(cat "$TMP/upstream.pid")" ;;
  esac
}

# wait_upstream N: until the tee's upstream printed N alert lines (bounded).
wait_upstream() {
  for _ in $(seq 1 1200); do
    [ "$(grep -c '"kind":"alert"' "$TMP/upstream.out" 2>/dev/null || echo 0)" -ge "$1" ] && return 0
    sleep 0.05
  done
  echo "bench: the tee's upstream did not receive $1 alerts in time" >&2
}

# wait_state: until the state sink's writer has committed (or counted as
# lost) every alert it accepted, so a writer still catching up never takes
# CPU from the next mode's round (it runs at a lower priority and yields the
# cores to ingest during a round). Bounded; prints the seconds it waited.
wait_state() {
  local t0 t1 m acc written lost backlog
  command -v curl >/dev/null 2>&1 || { echo "n/a (no curl)"; return 0; }
  t0=$(date +%s.%N)
  for _ in $(seq 1 2400); do
    m=$(curl -fsS --max-time 5 "$STATE_METRICS" 2>/dev/null || true)
    acc=$(echo "$m" | sed -n 's/^sinkwatch_alerts_accepted_total \([0-9]*\)$/\1/p')
    written=$(echo "$m" | sed -n 's/^sinkwatch_state_written_total \([0-9]*\)$/\1/p')
    backlog=$(echo "$m" | sed -n 's/^sinkwatch_state_backlog \([0-9]*\)$/\1/p')
    lost=$(echo "$m" | sed -n 's/^sinkwatch_consumer_lost_total{consumer="[^"]*state.db"} \([0-9]*\)$/\1/p')
    if [ -n "$acc" ] && [ -n "$written" ] && [ "${backlog:-1}" = 0 ] \
      && [ $(( written + ${lost:-0} )) -ge "$acc" ]; then
      t1=$(date +%s.%N)
      awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}'
      return 0
    fi
    sleep 0.05
  done
  echo "bench: the state writer did not catch up in 120 s" >&2
  echo "timeout"
}

declare -A durable_after
# note_durable KEY SECONDS: keeps the longest catch-up seen.
note_durable() {
  local cur=${durable_after[$1]:-}
  if [ -z "$cur" ] || [ "$2" = timeout ] || { [ "$cur" != timeout ] && awk -v a="$2" -v b="$cur" 'BEGIN{exit !(a>b)}'; }; then
    durable_after[$1]=$2
  fi
}

declare -A best
record() { # record MODE RATE: keep the best rate per mode
  local cur=${best[$1]:-0}
  awk -v a="$2" -v b="$cur" 'BEGIN{exit !(a>b)}' && best[$1]=$2 || true
}

# bare_token: the bare sink sent the same authorization header as the oidc
# mode (it ignores it). tonic's client never indexes `authorization` in
# HPACK, so the ~500-byte token crosses the wire, Huffman-coded, on every
# call, and both ends pay for that whatever the sink does with it: this
# row separates that cost from sinkwatch's verification.
for round in $(seq 1 "$ROUNDS"); do
  for mode in bare bare_token headless oidc state tui tee; do
    extra=()
    case $mode in
      bare) addr=$BARE_ADDR ;; headless) addr=$HEADLESS_ADDR ;; tee) addr=$TEE_ADDR ;; state) addr=$STATE_ADDR ;;
      bare_token) addr=$BARE_ADDR; extra=(--token-file "$TMP/oidc.jwt") ;;
      oidc) addr=$OIDC_ADDR; extra=(--token-file "$TMP/oidc.jwt") ;;
      tui) addr=$TUI_ADDR; [ -z "$addr" ] && continue ;;
    esac
    # shellcheck disable=SC2046
    c0=$(cpu_ms $(pids "$mode"))
    r=$(load "$addr" "$TOTAL" "$CONC" 4 "${extra[@]}" | json_num rate)
    # The tee's upstream may still be absorbing its queue: wait for its alerts.
    [ "$mode" = tee ] && wait_upstream $(( round * TOTAL ))
    # The state sink's CPU is read once its writer has caught up: all of it.
    durable=""
    [ "$mode" = state ] && { durable=$(wait_state); note_durable load "$durable"; }
    # shellcheck disable=SC2046
    c1=$(cpu_ms $(pids "$mode"))
    note_cpu "load-$mode" "$c0" "$c1" "$TOTAL"
    echo "round $round  $mode  $r req/s${durable:+ (durable after +$durable s)}" >&2
    record "$mode" "$r"
  done
done

# The same with h2load (nghttp2-client), a pipelined HTTP/2 load generator
# in C: it costs less CPU than `sinkwatch load`, so the sinks get more of the
# two cores. One framed AlertRequest (gRPC length prefix + protobuf) sent
# over and over: owner h2load, repo repo-1, policy SECURITY.md, pass.
declare -A h2best
if command -v h2load >/dev/null 2>&1; then
  printf '\x00\x00\x00\x00\x1f\x0a\x06h2load\x12\x06repo-1\x1a\x0bSECURITY.md\x28\x01' >"$TMP/body.bin"
  for round in $(seq 1 "$ROUNDS"); do
    for mode in bare bare_token headless oidc state tui tee; do
      auth=()
      case $mode in
        bare) addr=$BARE_ADDR ;; headless) addr=$HEADLESS_ADDR ;; tee) addr=$TEE_ADDR ;; state) addr=$STATE_ADDR ;;
        bare_token) addr=$BARE_ADDR; auth=(-H "authorization: Bearer $(cat "$TMP/oidc.jwt")") ;;
        oidc) addr=$OIDC_ADDR; auth=(-H "authorization: Bearer $(cat "$TMP/oidc.jwt")") ;;
        tui) addr=$TUI_ADDR; [ -z "$addr" ] && continue ;;
      esac
      # shellcheck disable=SC2046
      c0=$(cpu_ms $(pids "$mode"))
      out=$(h2load -n "$TOTAL" -c 4 -m "$(( CONC / 4 > 0 ? CONC / 4 : 1 ))" -d "$TMP/body.bin" \
        -H 'content-type: application/grpc' -H 'te: trailers' "${auth[@]}" "http://$addr/AlertSink/Alert" 2>&1)
      [ "$mode" = tee ] && wait_upstream $(( ROUNDS * TOTAL + round * TOTAL ))
      durable=""
      [ "$mode" = state ] && { durable=$(wait_state); note_durable h2 "$durable"; }
      # shellcheck disable=SC2046
      c1=$(cpu_ms $(pids "$mode"))
      note_cpu "h2-$mode" "$c0" "$c1" "$TOTAL"
      r=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
      ok=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
      echo "round $round  h2load $mode  $r req/s ($ok ok)${durable:+ (durable after +$durable s)}" >&2
      cur=${h2best[$mode]:-0}
      awk -v a="${r:-0}" -v b="$cur" 'BEGIN{exit !(a>b)}' && h2best[$mode]=$r || true
    done
  done
fi

# The same with grpc-go, the client stack Allstar itself uses
# (scripts/go/alertsink_load.go, built in GOPATH mode from Debian's
# golang-go and golang-google-grpc-dev where they are installed). Unlike
# tonic and nghttp2, grpc-go indexes the `authorization` header in HPACK:
# after a connection's first call the token costs the sink nothing to
# decode, so this is the OIDC figure for a real Allstar.
declare -A gobest
GOPATH_GRPC=${SINKWATCH_GOPATH:-/usr/share/gocode}
GO_SKIP=""
if ! command -v go >/dev/null 2>&1; then
  GO_SKIP="no go (Debian: apt-get install golang-go golang-google-grpc-dev)"
elif [ ! -d "$GOPATH_GRPC/src/google.golang.org/grpc" ]; then
  GO_SKIP="no grpc-go in $GOPATH_GRPC (Debian: apt-get install golang-google-grpc-dev)"
elif ! (cd scripts/go && GOPATH=$GOPATH_GRPC GO111MODULE=off GOPROXY=off GOFLAGS= \
    go build -o "$TMP/alertsink_load" alertsink_load.go) 2>"$TMP/gobuild.err"; then
  GO_SKIP="go build failed: $(head -n 1 "$TMP/gobuild.err")"
fi
if [ -z "$GO_SKIP" ]; then
  for round in $(seq 1 "$ROUNDS"); do
    for mode in bare bare_token headless oidc; do
      extra=()
      case $mode in
        bare) addr=$BARE_ADDR ;; headless) addr=$HEADLESS_ADDR ;;
        bare_token) addr=$BARE_ADDR; extra=(-token-file "$TMP/oidc.jwt") ;;
        oidc) addr=$OIDC_ADDR; extra=(-token-file "$TMP/oidc.jwt") ;;
      esac
      # shellcheck disable=SC2046
      c0=$(cpu_ms $(pids "$mode"))
      r=$("$TMP/alertsink_load" -addr "$addr" -n "$TOTAL" -c "$CONC" -conns 4 "${extra[@]}" | json_num rate)
      # shellcheck disable=SC2046
      c1=$(cpu_ms $(pids "$mode"))
      note_cpu "go-$mode" "$c0" "$c1" "$TOTAL"
      echo "round $round  grpc-go $mode  $r req/s" >&2
      cur=${gobest[$mode]:-0}
      awk -v a="${r:-0}" -v b="$cur" 'BEGIN{exit !(a>b)}' && gobest[$mode]=$r || true
    done
  done
fi

# Sequential latency: one connection, one request at a time, bare and
# headless alternating for SEQ_ROUNDS rounds; the added latency is the
# median over rounds of (sinkwatch − bare), so a slow moment of the machine
# hits one pair, not the figure.
SEQ_ROUNDS=${SEQ_ROUNDS:-$(( SMOKE == 1 ? 1 : 7 ))}
seq_pairs=""
for round in $(seq 1 "$SEQ_ROUNDS"); do
  seq_bare=$(load "$BARE_ADDR" "$SEQ_TOTAL" 1 1)
  seq_sw=$(load "$HEADLESS_ADDR" "$SEQ_TOTAL" 1 1)
  p50_b=$(echo "$seq_bare" | json_num p50); p99_b=$(echo "$seq_bare" | json_num p99)
  p50_s=$(echo "$seq_sw" | json_num p50);   p99_s=$(echo "$seq_sw" | json_num p99)
  echo "round $round  sequential  bare p50 $p50_b ms p99 $p99_b ms  sinkwatch p50 $p50_s ms p99 $p99_s ms" >&2
  seq_pairs+="$p50_b $p50_s $p99_b $p99_s"$'\n'
done

# Tee: wait for the forward queue to drain, then read the counters from the
# exit stats line.
stop tee
tee_stats=$(grep '"kind":"stats"' "$TMP/tee.out" | tail -n 1 || true)
stop upstream
up_alerts=$(grep -c '"kind":"alert"' "$TMP/upstream.out" || true)
stop oidc
oidc_stats=$(grep '"kind":"stats"' "$TMP/oidc.out" | tail -n 1 || true)
stop headless
head_alerts=$(grep -c '"kind":"alert"' "$TMP/headless.out" || true)
stop state
state_stats=$(grep '"kind":"stats"' "$TMP/state.out" | tail -n 1 || true)
state_bytes=$(stat -c %s "$TMP/state.db" 2>/dev/null || echo 0)

base=${best[bare]}
ratio() { awk -v a="$1" -v b="$base" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
echo
echo "sinkwatch end-to-end benchmark ($PROFILE build, $(nproc) cores, $ROUNDS rounds of $TOTAL alerts, concurrency $CONC over 4 connections; best round)"
printf '%-34s %12s %8s %8s\n' "mode" "req/s" "ratio" "target"
printf '%-34s %12.0f %8s %8s\n' "bare tonic AlertSink (baseline)" "$base" "1.00" ""
printf '%-34s %12.0f %8s %8s\n' "sinkwatch headless (stdout→file)" "${best[headless]}" "$(ratio "${best[headless]}")" "≥0.90"
printf '%-34s %12.0f %8s %8s\n' "sinkwatch headless + OIDC (RS256)" "${best[oidc]}" "$(ratio "${best[oidc]}")" "≥0.85"
printf '%-34s %12.0f %8s %8s\n' "  bare sent the same bearer header" "${best[bare_token]}" "$(ratio "${best[bare_token]}")" ""
printf '%-34s %12s %8s\n' "  OIDC / bare with the header" "" "$(awk -v a="${best[oidc]}" -v b="${best[bare_token]}" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }')"
printf '%-34s %12.0f %8s %8s   durable after +%s s (longest round)\n' "sinkwatch headless + --state" "${best[state]}" "$(ratio "${best[state]}")" "≥0.85" "${durable_after[load]:-?}"
if [ -n "${best[tui]:-}" ]; then
  printf '%-34s %12.0f %8s %8s\n' "sinkwatch TUI (pty 200×50)" "${best[tui]}" "$(ratio "${best[tui]}")" "≥0.80"
else
  printf '%-34s %12s\n' "sinkwatch TUI" "skipped (no script(1))"
fi
printf '%-34s %12.0f %8s %8s\n' "sinkwatch tee → sinkwatch" "${best[tee]}" "$(ratio "${best[tee]}")" "≥0.50"
if [ -n "${h2best[bare]:-}" ]; then
  hbase=${h2best[bare]}
  h2ratio() { awk -v a="$1" -v b="$hbase" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
  echo
  echo "with h2load (-c 4 -m $(( CONC / 4 > 0 ? CONC / 4 : 1 )), $TOTAL requests per round; best round)"
  printf '%-34s %12s %8s %8s\n' "mode" "req/s" "ratio" "target"
  printf '%-34s %12.0f %8s %8s\n' "bare tonic AlertSink (baseline)" "$hbase" "1.00" ""
  printf '%-34s %12.0f %8s %8s\n' "sinkwatch headless (stdout→file)" "${h2best[headless]}" "$(h2ratio "${h2best[headless]}")" "≥0.90"
  printf '%-34s %12.0f %8s %8s\n' "sinkwatch headless + OIDC (RS256)" "${h2best[oidc]}" "$(h2ratio "${h2best[oidc]}")" "≥0.85"
  printf '%-34s %12.0f %8s %8s\n' "  bare sent the same bearer header" "${h2best[bare_token]}" "$(h2ratio "${h2best[bare_token]}")" ""
  printf '%-34s %12s %8s\n' "  OIDC / bare with the header" "" "$(awk -v a="${h2best[oidc]}" -v b="${h2best[bare_token]}" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }')"
  printf '%-34s %12.0f %8s %8s   durable after +%s s (longest round)\n' "sinkwatch headless + --state" "${h2best[state]}" "$(h2ratio "${h2best[state]}")" "≥0.85" "${durable_after[h2]:-?}"
  [ -n "${h2best[tui]:-}" ] && printf '%-34s %12.0f %8s %8s\n' "sinkwatch TUI (pty 200×50)" "${h2best[tui]}" "$(h2ratio "${h2best[tui]}")" "≥0.80"
  printf '%-34s %12.0f %8s %8s\n' "sinkwatch tee → sinkwatch" "${h2best[tee]}" "$(h2ratio "${h2best[tee]}")" "≥0.50"
fi
echo
if [ -z "$GO_SKIP" ]; then
  gbase=${gobest[bare]}
  goratio() { awk -v a="$1" -v b="$gbase" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
  echo "with grpc-go, Allstar's client stack (scripts/go/alertsink_load.go, c=$CONC over 4 connections; best round)"
  printf '%-34s %12s %8s %8s\n' "mode" "req/s" "ratio" "target"
  printf '%-34s %12.0f %8s %8s\n' "bare tonic AlertSink (baseline)" "$gbase" "1.00" ""
  printf '%-34s %12.0f %8s %8s\n' "  bare sent the same bearer header" "${gobest[bare_token]}" "$(goratio "${gobest[bare_token]}")" ""
  printf '%-34s %12.0f %8s %8s\n' "sinkwatch headless (stdout→file)" "${gobest[headless]}" "$(goratio "${gobest[headless]}")" "≥0.90"
  printf '%-34s %12.0f %8s %8s\n' "sinkwatch headless + OIDC (RS256)" "${gobest[oidc]}" "$(goratio "${gobest[oidc]}")" "≥0.85"
  printf '%-34s %12s %8s\n' "  OIDC / bare with the header" "" "$(awk -v a="${gobest[oidc]}" -v b="${gobest[bare_token]}" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }')"
else
  echo "grpc-go rows skipped: $GO_SKIP"
fi
echo
echo "CPU time per alert (user + system, lowest round; tee: the tee and its upstream together;"
echo "  state: until its writer had caught up)"
printf '%-34s %12s %12s %12s\n' "mode" "sinkwatch load" "h2load" "grpc-go"
for mode in bare bare_token headless oidc state tui tee; do
  [ -n "${cpu_us[load-$mode]:-}${cpu_us[h2-$mode]:-}${cpu_us[go-$mode]:-}" ] || continue
  printf '%-34s %10s µs %10s µs %10s µs\n' "$mode" "${cpu_us[load-$mode]:-–}" "${cpu_us[h2-$mode]:-–}" "${cpu_us[go-$mode]:-–}"
done
echo
echo "sequential latency over one stream ($SEQ_ROUNDS alternating rounds of $SEQ_TOTAL calls each)"
echo "$seq_pairs" | awk 'NF == 4 {
    n++; b50[n] = $1; s50[n] = $2; d50[n] = ($2 - $1) * 1000; d99[n] = ($4 - $3) * 1000
  }
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    if (n == 0) { print "no sequential rounds"; exit }
    mb = median(b50, n); ms = median(s50, n)
    lo = hi = d50[1]; for (i = 2; i <= n; i++) { if (d50[i] < lo) lo = d50[i]; if (d50[i] > hi) hi = d50[i] }
    printf "median p50: baseline %.3f ms, sinkwatch %.3f ms\n", mb, ms
    printf "added latency: p50 %+.1f µs median over rounds (range %+.1f … %+.1f; target ≤ 20 µs), p99 %+.1f µs\n", median(d50, n), lo, hi, median(d99, n)
  }'
echo "headless printed $head_alerts alert lines"
echo "OIDC sink exit stats (every call authenticated, nothing refused): $oidc_stats"
state_written=$(echo "$state_stats" | sed -n 's/.*"state":{[^}]*"written":\([0-9]*\).*/\1/p')
state_lost=$(echo "$state_stats" | sed -n 's/.*"state":{[^}]*"lost":\([0-9]*\).*/\1/p')
echo "state: ${state_written:-?} alerts stored, ${state_lost:-?} lost (target 0), file $state_bytes bytes"
echo "tee upstream received $up_alerts alerts; tee exit stats: $tee_stats"
dropped=$(echo "$tee_stats" | json_num dropped)
undelivered=$(echo "$tee_stats" | json_num undelivered)
held=$(echo "$tee_stats" | json_num held)
echo "tee drops: dropped ${dropped:-?}, undelivered at exit ${undelivered:-?} (target: zero while the upstream is healthy);"
echo "  sender answers held while the upstream was behind: ${held:-?}"

# Durable state at scale: RESTORE_N alerts over 90,000 keys written by the
# state writer, then the restore a restarting sink does (target ≤ 2 s for
# 1,000,000), and the file's bytes per stored alert.
RESTORE_N=${RESTORE_N:-$(( SMOKE == 1 ? 20000 : 1000000 ))}
echo
echo "state restore ($RESTORE_N alerts, 10,000 repos × 9 policies, Allstar-like details):"
"target/$PROFILE/examples/state_restore" "$RESTORE_N" "$TMP/restore"

# Helpers shared by the scripts that run sinkwatch processes (sourced, not
# run). The caller sets SCRIPT (its name, for messages) and TMP (its
# temporary directory, where each process it starts leaves NAME.pid and
# writes its stderr to NAME.err).

# stop_all: SIGTERM to every process with a pid file in $TMP, waits for
# them, removes $TMP. Meant for `trap ... EXIT`.
stop_all() {
  for f in "$TMP"/*.pid; do
    [ -f "$f" ] && kill -TERM "$(cat "$f" 2>/dev/null)" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}

# wait_for FILE PATTERN WHAT: polls FILE (a process's stderr) for PATTERN,
# for a minute at most; then names WHAT, shows FILE and exits 1.
wait_for() {
  for _ in $(seq 1 1200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$SCRIPT: $3 never happened:" >&2
  cat "$1" >&2
  exit 1
}

# cpu_ticks PID: user + system CPU time of PID so far, in clock ticks.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# listen_addr FILE WHAT: waits for the whole `sinkwatch: listening on ADDR`
# line (or `bare_sink: …`, examples/bare_sink.rs) in FILE (a sink's stderr,
# written unbuffered, so a look may catch it half-written) and prints ADDR.
listen_addr() {
  local addr
  for _ in $(seq 1 1200); do
    addr=$(sed -n 's/^\(sinkwatch\|bare_sink\): listening on \([0-9.]*:[0-9]*\)$/\2/p' "$1" 2>/dev/null | head -n 1)
    # Complete: the file ends with the line's newline.
    if [ -n "$addr" ] && [ -z "$(tail -c 1 "$1")" ]; then
      echo "$addr"
      return 0
    fi
    sleep 0.05
  done
  echo "$SCRIPT: $2 never listened:" >&2
  cat "$1" >&2
  exit 1
}

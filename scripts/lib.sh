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

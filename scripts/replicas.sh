#!/usr/bin/env bash
# Three headless sinkwatch replicas behind nginx (grpc_pass, from Debian's
# nginx-light package, installed when missing), a realistic scan sent
# through nginx, and one viewer (`sinkwatch attach --no-tui`) attached to the
# three replicas: checks that the viewer saw every alert exactly once (per
# replica, what the viewer received equals what the replica accepted; in
# all, what the load generator had acknowledged). Loopback only.
#
#   scripts/replicas.sh                  # release build, a scan of 2000 repos x 9 policies
#   SMOKE=1 scripts/replicas.sh          # debug build, 200 repos
#   NGINX_PORT=18443 scripts/replicas.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  REPOS=${REPOS:-200}; PROFILE=debug
  cargo build --quiet --bins
else
  REPOS=${REPOS:-2000}; PROFILE=release
  cargo build --quiet --release --bins
fi
TOTAL=$(( REPOS * 9 ))
NGINX_PORT=${NGINX_PORT:-18443}
BIN=target/$PROFILE/sinkwatch

if ! command -v nginx >/dev/null; then
  echo "replicas: installing nginx-light (Debian)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get install -y -q nginx-light >/dev/null
fi

TMP=$(mktemp -d)
chmod 755 "$TMP"
export XDG_STATE_HOME="$TMP/state" XDG_CONFIG_HOME="$TMP/config"
SCRIPT=replicas
. scripts/lib.sh
cleanup() {
  # nginx first, gracefully (QUIT); stop_all then TERMs whatever is left.
  [ -f "$TMP/nginx.pid" ] && kill -QUIT "$(cat "$TMP/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  stop_all
}
trap cleanup EXIT

head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$TMP/token"

URLS=()
PORTS=()
for r in a b c; do
  "$BIN" --no-tui --listen 127.0.0.1:0 --token-file "$TMP/token" \
    >"$TMP/$r.out" 2>"$TMP/$r.err" &
  echo $! >"$TMP/$r.pid"
  addr=$(listen_addr "$TMP/$r.err" "replica $r")
  URLS+=("http://$addr")
  PORTS+=("${addr##*:}")
done

mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err warn;
events {}
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    upstream replicas {
        server 127.0.0.1:${PORTS[0]};
        server 127.0.0.1:${PORTS[1]};
        server 127.0.0.1:${PORTS[2]};
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT http2;
        # As in deploy/nginx-grpc.conf: without it nginx sends a GOAWAY
        # after 1000 calls per connection, and calls in flight fail.
        keepalive_requests 1000000;
        location /AlertSink/ {
            grpc_pass grpc://replicas;
        }
    }
}
CONF
nginx -p "$TMP/nginx" -c "$TMP/nginx.conf" &
for _ in $(seq 1 200); do
  [ -s "$TMP/nginx.pid" ] && break
  sleep 0.05
done
[ -s "$TMP/nginx.pid" ] || { echo "replicas: nginx did not start" >&2; cat "$TMP/nginx.err" >&2; exit 1; }

"$BIN" attach --no-tui --token-file "$TMP/token" "${URLS[@]}" \
  >"$TMP/viewer.out" 2>"$TMP/viewer.err" &
echo $! >"$TMP/viewer.pid"
for u in "${URLS[@]}"; do
  wait_for "$TMP/viewer.err" "source $u/*: live" "the viewer attached to $u"
done

# The scan, through nginx. Many connections so nginx spreads the calls.
"$BIN" load --to "127.0.0.1:$NGINX_PORT" --token-file "$TMP/token" \
  --total "$TOTAL" --repos "$REPOS" --concurrency 32 --connections 8 --json >"$TMP/load.json"
ok=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ok"])' "$TMP/load.json")

# Stop the replicas first (their stats lines say what each accepted), then
# the viewer once it has received as much.
accepted=()
for r in a b c; do
  kill -TERM "$(cat "$TMP/$r.pid")"; wait "$(cat "$TMP/$r.pid")" || true; rm -f "$TMP/$r.pid"
  accepted+=("$(tail -n 1 "$TMP/$r.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted"])')")
done
sum=$(( accepted[0] + accepted[1] + accepted[2] ))
for _ in $(seq 1 1200); do
  [ "$(grep -c '"kind":"alert"' "$TMP/viewer.out" || true)" -ge "$sum" ] && break
  sleep 0.05
done
kill -TERM "$(cat "$TMP/viewer.pid")"; wait "$(cat "$TMP/viewer.pid")" || true; rm -f "$TMP/viewer.pid"

python3 - "$TMP/viewer.out" "$ok" "${URLS[@]}" "${accepted[@]}" "$TMP/a.out" "$TMP/b.out" "$TMP/c.out" <<'PY'
import collections, json, sys
out, ok = sys.argv[1], int(sys.argv[2])
urls, accepted = sys.argv[3:6], [int(a) for a in sys.argv[6:9]]
replica_outs = sys.argv[9:12]
lines = [json.loads(l) for l in open(out)]
alerts = [l for l in lines if l.get("kind") == "alert"]

def key(a):
    # What a replica printed and the viewer prints of the same alert (the
    # viewer's seq is its own; its receive time is the replica's).
    return (a["at"], a["owner"], a["repo"], a["policy"], a["pass"], a.get("details", ""))

printed = collections.Counter()
for f in replica_outs:
    for l in open(f):
        a = json.loads(l)
        if a.get("kind") == "alert":
            printed[key(a)] += 1
seen = collections.Counter(key(a) for a in alerts)
sources = next(l for l in lines if l.get("kind") == "sources")["sources"]
print(f"load acknowledged {ok}; replicas accepted {accepted} (sum {sum(accepted)}); "
      f"viewer printed {len(alerts)}")
bad = []
if sum(accepted) != ok:
    bad.append(f"replicas accepted {sum(accepted)} but the load generator saw {ok} OK")
if len(alerts) != ok:
    bad.append(f"the viewer printed {len(alerts)} alerts, expected {ok}")
# Alert by alert, not only counts: a gap and a duplicate would cancel out.
missing, extra = printed - seen, seen - printed
if missing or extra:
    bad.append(f"alert by alert: {sum(missing.values())} the replicas printed are missing "
               f"from the viewer, {sum(extra.values())} the viewer printed too often or "
               f"from nowhere (first missing: {next(iter(missing), None)})")
for url, acc in zip(urls, accepted):
    s = next(s for s in sources if s["url"].rstrip("/") == url)
    print(f"  {url}: accepted {acc}, viewer received {s['received']}, "
          f"reconnects {s['reconnects']}, resets {s['resets']}, missed {s['missed']}")
    if s["received"] != acc:
        bad.append(f"{url}: the viewer received {s['received']}, the replica accepted {acc}")
if sum(1 for a in accepted if a > 0) < 2:
    bad.append("nginx did not spread the calls over the replicas")
if bad:
    print("FAIL: " + "; ".join(bad)); sys.exit(1)
print(f"OK: every alert seen exactly once ({sum(printed.values())} compared alert by alert)")
PY

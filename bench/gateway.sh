#!/usr/bin/env bash
# Gateway benchmark: a fast fake upstream (crates/fake-providers' fake-upstream) measured directly
# and through `portolan serve` (request logging on, pinned to one core), with wrk from Debian's
# packages. Prints one table for chat completions, then one row set per other API the gateway
# speaks (the Responses API, Anthropic's Messages API), each against the same upstream chat call. Every load run is bounded by duration; everything listens on
# 127.0.0.1 only and is stopped at the end.
#   bench/gateway.sh            (DURATION=5 seconds per wrk run by default)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
GW_CORE=${GW_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
cargo build --release --quiet --bin portolan -p portolan
cargo build --release --quiet --bin fake-upstream -p fake-providers
BIN=target/release/portolan
FAKE=target/release/fake-upstream

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

taskset -c "$LOAD_CORE" "$FAKE" 0 > "$work/fake.out" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/fake.out" ] && break; sleep 0.05; done
UPSTREAM=$(head -1 "$work/fake.out")
UPSTREAM_KEY=sk-bench-0000000000000000000000000000

export PORTOLAN_HOME="$work/home" PORTOLAN_KEYRING=0 PORTOLAN_SEED=0
printf '%s' "$UPSTREAM_KEY" | "$BIN" keys add openai --provider openai --base-url "$UPSTREAM/v1" >/dev/null
PORTOLAN_TOKEN=$("$BIN" tokens create bench | tail -1)
PORT=$((20000 + RANDOM % 20000))

start_ns=$(date +%s%N)
taskset -c "$GW_CORE" "$BIN" serve --port "$PORT" > "$work/serve.out" 2>&1 &
GW_PID=$!
pids+=($GW_PID)
GW="http://127.0.0.1:$PORT"
for _ in $(seq 400); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GW/v1/chat/completions" -H "Authorization: Bearer $PORTOLAN_TOKEN" \
    -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' || true)
  [ "$code" = 200 ] && break
  sleep 0.005
done
startup_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
rss() { awk '/^VmRSS/ {print int($2/1024)}' "/proc/$GW_PID/status"; }
hwm() { awk '/^VmHWM/ {print int($2/1024)}' "/proc/$GW_PID/status"; }
idle_mb=$(rss)

# wrk prints latency percentiles with --latency; pick p50 / p99 (in ms) and requests/s.
run_wrk() { # url conns token [body]
  BODY=${4:-} AUTH_TOKEN=$3 taskset -c "$LOAD_CORE" wrk -t1 -c"$2" -d"${DURATION}s" --latency -s bench/post.lua "$1" 2>/dev/null
}
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v+0 } else if (v ~ /s$/) { sub(/s$/, "", v); print v*1000 } else print v }'; }
pct() { echo "$1" | awk -v p="$2" '$1 == p {print $2}'; }
rps() { echo "$1" | awk '/Requests\/sec/ {print int($2)}'; }

d1=$(run_wrk "$UPSTREAM/v1/chat/completions" 1 "$UPSTREAM_KEY")
g1=$(run_wrk "$GW/v1/chat/completions" 1 "$PORTOLAN_TOKEN")
d32=$(run_wrk "$UPSTREAM/v1/chat/completions" 32 "$UPSTREAM_KEY")
g32=$(run_wrk "$GW/v1/chat/completions" 32 "$PORTOLAN_TOKEN")
peak_mb=$(hwm)
errors=$(echo "$g32" | awk '/Non-2xx/ {print $5}')

# Streaming time to first byte, median of 50 sequential requests each way.
ttfb() { # url auth [body]
  local body=${3:-'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say ok"}]}'}
  for _ in $(seq 50); do
    curl -s -o /dev/null -w '%{time_starttransfer}\n' -X POST "$1" -H "Authorization: Bearer $2" -H 'content-type: application/json' \
      -d "$body"
  done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]*1000}'
}
t_direct=$(ttfb "$UPSTREAM/v1/chat/completions" "$UPSTREAM_KEY")
t_gw=$(ttfb "$GW/v1/chat/completions" "$PORTOLAN_TOKEN")

d1p50=$(to_ms "$(pct "$d1" 50%)"); d1p99=$(to_ms "$(pct "$d1" 99%)")
g1p50=$(to_ms "$(pct "$g1" 50%)"); g1p99=$(to_ms "$(pct "$g1" 99%)")
d32p99=$(to_ms "$(pct "$d32" 99%)"); g32p99=$(to_ms "$(pct "$g32" 99%)")
printf '\nPortolan gateway benchmark (gateway on core %s, load + fake upstream on core %s, %ss per run, logging on)\n' "$GW_CORE" "$LOAD_CORE" "$DURATION"
printf '%-44s %12s %12s %12s\n' "measure" "direct" "gateway" "added"
printf '%-44s %12s %12s %12s\n' "p50 latency, concurrency 1 (ms)" "$d1p50" "$g1p50" "$(awk -v a="$g1p50" -v b="$d1p50" 'BEGIN{printf "%.3f", a-b}')"
printf '%-44s %12s %12s %12s\n' "p99 latency, concurrency 1 (ms)" "$d1p99" "$g1p99" "$(awk -v a="$g1p99" -v b="$d1p99" 'BEGIN{printf "%.3f", a-b}')"
printf '%-44s %12s %12s %12s\n' "requests/s, concurrency 32" "$(rps "$d32")" "$(rps "$g32")" "-"
printf '%-44s %12s %12s %12s\n' "p99 latency, concurrency 32 (ms)" "$d32p99" "$g32p99" "$(awk -v a="$g32p99" -v b="$d32p99" 'BEGIN{printf "%.3f", a-b}')"
printf '%-44s %12s %12s %12s\n' "stream time to first byte, median (ms)" "$t_direct" "$t_gw" "$(awk -v a="$t_gw" -v b="$t_direct" 'BEGIN{printf "%.3f", a-b}')"
printf '%-44s %12s %12s %12s\n' "memory idle / peak (MB RSS)" "-" "$idle_mb / $peak_mb" "-"
printf '%-44s %12s %12s %12s\n' "start to first answered request (ms)" "-" "$startup_ms" "-"
printf '%-44s %12s %12s %12s\n' "non-2xx answers at concurrency 32" "-" "${errors:-0}" "-"

# The other APIs: the same upstream chat call, translated. `added` is against the direct chat call
# above; the chat row is repeated for comparison.
RESPONSES='{"model":"gpt-4o-mini","input":"Say ok","store":false}'
RESPONSES_STORED='{"model":"gpt-4o-mini","input":"Say ok"}'
MESSAGES='{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Say ok"}]}'
api_row() { # name path body stream-body
  local c1 c32 t
  c1=$(run_wrk "$GW$2" 1 "$PORTOLAN_TOKEN" "$3")
  c32=$(run_wrk "$GW$2" 32 "$PORTOLAN_TOKEN" "$3")
  t=$(ttfb "$GW$2" "$PORTOLAN_TOKEN" "$4")
  printf '%-26s %10s %12s %12s %14s\n' "$1" "$(rps "$c32")" \
    "$(awk -v a="$(to_ms "$(pct "$c1" 50%)")" -v b="$d1p50" 'BEGIN{printf "%.3f", a-b}')" \
    "$(awk -v a="$(to_ms "$(pct "$c1" 99%)")" -v b="$d1p99" 'BEGIN{printf "%.3f", a-b}')" \
    "$(awk -v a="$t" -v b="$t_direct" 'BEGIN{printf "%.3f", a-b}')"
}
printf '\nEvery API the gateway speaks, on the same upstream chat call (added = gateway minus direct)\n'
printf '%-26s %10s %12s %12s %14s\n' "API" "req/s c=32" "added p50 c=1" "added p99 c=1" "added TTFB (ms)"
printf '%-26s %10s %12s %12s %14s\n' "chat completions" "$(rps "$g32")" \
  "$(awk -v a="$g1p50" -v b="$d1p50" 'BEGIN{printf "%.3f", a-b}')" \
  "$(awk -v a="$g1p99" -v b="$d1p99" 'BEGIN{printf "%.3f", a-b}')" \
  "$(awk -v a="$t_gw" -v b="$t_direct" 'BEGIN{printf "%.3f", a-b}')"
api_row "responses (store: false)" /v1/responses "$RESPONSES" '{"model":"gpt-4o-mini","input":"Say ok","store":false,"stream":true}'
api_row "responses (stored)" /v1/responses "$RESPONSES_STORED" '{"model":"gpt-4o-mini","input":"Say ok","stream":true}'
api_row "anthropic messages" /v1/messages "$MESSAGES" '{"model":"gpt-4o-mini","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"Say ok"}]}'
# OpenTelemetry export: the same chat call with export off, to a collector that accepts, to one
# that is down (connection refused) and to one that accepts connections and never answers. The
# settings are picked up by the running gateway within half a second.
python3 - "$work" <<'PY' &
import socket, sys, threading, http.server
work = sys.argv[1]
class Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
ok = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
hang = socket.socket(); hang.bind(("127.0.0.1", 0)); hang.listen(1024)
held = []
def hold():
    while True:
        c, _ = hang.accept(); held.append(c)
threading.Thread(target=hold, daemon=True).start()
open(f"{work}/collectors", "w").write(f"{ok.server_address[1]} {hang.getsockname()[1]}\n")
ok.serve_forever()
PY
pids+=($!)
for _ in $(seq 100); do [ -s "$work/collectors" ] && break; sleep 0.05; done
read -r OK_PORT HANG_PORT < "$work/collectors"
DOWN_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
otel_row() { # label
  sleep 1
  local c1 c32
  c1=$(run_wrk "$GW/v1/chat/completions" 1 "$PORTOLAN_TOKEN")
  c32=$(run_wrk "$GW/v1/chat/completions" 32 "$PORTOLAN_TOKEN")
  printf '%-34s %10s %12s %12s\n' "$1" "$(rps "$c32")" "$(to_ms "$(pct "$c1" 50%)")" "$(to_ms "$(pct "$c1" 99%)")"
}
printf '\nOpenTelemetry export (chat completions through the gateway)\n'
printf '%-34s %10s %12s %12s\n' "export" "req/s c=32" "p50 c=1 (ms)" "p99 c=1 (ms)"
otel_row "off"
"$BIN" settings otel --endpoint "http://127.0.0.1:$OK_PORT/v1/traces" >/dev/null
otel_row "on, collector accepting"
"$BIN" settings otel --endpoint "http://127.0.0.1:$DOWN_PORT/v1/traces" >/dev/null
otel_row "on, collector down"
"$BIN" settings otel --endpoint "http://127.0.0.1:$HANG_PORT/v1/traces" >/dev/null
otel_row "on, collector hanging"
"$BIN" status | grep OpenTelemetry || true
"$BIN" settings otel --off >/dev/null

logged=$("$BIN" logs --limit 1 --json | grep -c '"id"' || true)
echo "(calls were logged: $([ "$logged" -ge 1 ] && echo yes || echo no))"

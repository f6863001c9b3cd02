#!/usr/bin/env bash
# Team gateway benchmark: `portolan serve` on this machine's SQLite, then `portolan serve --store`
# on a shared PostgreSQL as one replica and as three, against the same fast fake upstream
# (crates/fake-providers' fake-upstream), measured with wrk. For three replicas, one wrk per
# replica runs at once (a perfect round-robin), and the table sums their requests/s and takes the
# worst p99. Prints the added latency at concurrency 1 and the requests/s at 32 of each, with
# request logging on and a budget on the token (so every call reserves and settles).
#   bench/team-gateway.sh                      a throwaway PostgreSQL on 127.0.0.1
#   bench/team-gateway.sh --store postgres://…  an existing (empty) database
# Every load run is bounded by duration (DURATION=5 s by default); everything listens on
# 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
# BUDGET=0: tokens without a budget (calls then reserve nothing).
BUDGET=${BUDGET:-1}
STORE=""
if [ "${1:-}" = "--store" ]; then STORE=${2:?give the postgres:// URL}; fi

command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --quiet --bin portolan -p portolan
cargo build --release --quiet --bin fake-upstream -p fake-providers
BIN=$PWD/target/release/portolan
FAKE=$PWD/target/release/fake-upstream

work=$(mktemp -d)
chmod 755 "$work"
pids=()
pg_data=""
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
    kill -QUIT "$(head -1 "$pg_data/postmaster.pid")" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -z "$STORE" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed (scripts/setup.sh --test installs it)" >&2; exit 1; }
  pg_data="$work/pg"
  mkdir -p "$pg_data"
  as_pg=()
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$work"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$PGBIN/initdb" -D "$pg_data" -A trust -U postgres --no-sync >/dev/null
  PG_PORT=$(free_port)
  "${as_pg[@]}" "$PGBIN/pg_ctl" -w -D "$pg_data" -l "$work/pg.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $work -c max_connections=200 ${PG_OPTS:-}" start >/dev/null
  STORE="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
fi

"$FAKE" 0 > "$work/fake.out" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/fake.out" ] && break; sleep 0.05; done
UPSTREAM=$(head -1 "$work/fake.out")
KEY=sk-bench-0000000000000000000000000000
export PORTOLAN_KEYRING=0 PORTOLAN_SEED=0 PORTOLAN_MASTER_KEY=$(printf 'ab%.0s' $(seq 32))

# This machine's library, and the shared store, each with the key and a budgeted token.
export PORTOLAN_HOME="$work/local"
printf '%s' "$KEY" | "$BIN" keys add openai --provider openai --base-url "$UPSTREAM/v1" >/dev/null
LOCAL_TOKEN=$("$BIN" tokens create bench | tail -1)
[ "$BUDGET" = 0 ] || "$BIN" tokens budget bench --usd 100000 >/dev/null
printf '%s' "$KEY" | "$BIN" --store "$STORE" keys add openai --provider openai --base-url "$UPSTREAM/v1" >/dev/null
TEAM_TOKEN=$("$BIN" --store "$STORE" tokens create bench | tail -1)
[ "$BUDGET" = 0 ] || "$BIN" --store "$STORE" tokens budget bench --usd 100000 >/dev/null

wait_answering() { # port token
  for _ in $(seq 400); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$1/v1/chat/completions" \
      -H "Authorization: Bearer $2" -H 'content-type: application/json' \
      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' || true)
    [ "$code" = 200 ] && return 0
    sleep 0.01
  done
  echo "the gateway on port $1 did not answer" >&2; exit 1
}

run_wrk() { # url conns token
  AUTH_TOKEN=$3 wrk -t1 -c"$2" -d"${DURATION}s" --latency -s bench/post.lua "$1" 2>/dev/null
}
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v+0 } else if (v ~ /s$/) { sub(/s$/, "", v); print v*1000 } else print v }'; }
pct() { echo "$1" | awk -v p="$2" '$1 == p {print $2}'; }
rps() { echo "$1" | awk '/Requests\/sec/ {print int($2)}'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a-b}'; }

d1=$(run_wrk "$UPSTREAM/v1/chat/completions" 1 "$KEY")
d1p50=$(to_ms "$(pct "$d1" 50%)"); d1p99=$(to_ms "$(pct "$d1" 99%)")

row() { # label c1-output rps32 p99-32
  printf '%-36s %12s %12s %12s %12s\n' "$1" "$(added "$(to_ms "$(pct "$2" 50%)")" "$d1p50")" \
    "$(added "$(to_ms "$(pct "$2" 99%)")" "$d1p99")" "$3" "$4"
}

printf '\nTeam gateway benchmark (%ss per run, logging on, %s; added = gateway minus direct)\n' "$DURATION" \
  "$([ "$BUDGET" = 0 ] && echo "no budget on the token" || echo "a budget on the token: every call reserves and settles")"
printf '%-36s %12s %12s %12s %12s\n' "store" "added p50 c1" "added p99 c1" "req/s c32" "p99 c32 (ms)"

P=$(free_port)
PORTOLAN_HOME="$work/local" "$BIN" serve --port "$P" > "$work/sqlite.out" 2>&1 &
pids+=($!)
wait_answering "$P" "$LOCAL_TOKEN"
c1=$(run_wrk "http://127.0.0.1:$P/v1/chat/completions" 1 "$LOCAL_TOKEN")
c32=$(run_wrk "http://127.0.0.1:$P/v1/chat/completions" 32 "$LOCAL_TOKEN")
row "SQLite (one process)" "$c1" "$(rps "$c32")" "$(to_ms "$(pct "$c32" 99%)")"
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

ports=()
for i in 1 2 3; do
  P=$(free_port); ports+=("$P")
  PORTOLAN_HOME="$work/r$i" "$BIN" --store "$STORE" serve --port "$P" > "$work/r$i.out" 2>&1 &
  pids+=($!)
done
for P in "${ports[@]}"; do wait_answering "$P" "$TEAM_TOKEN"; done
G1="http://127.0.0.1:${ports[0]}/v1/chat/completions"
c1=$(run_wrk "$G1" 1 "$TEAM_TOKEN")
c32=$(run_wrk "$G1" 32 "$TEAM_TOKEN")
row "PostgreSQL, one replica" "$c1" "$(rps "$c32")" "$(to_ms "$(pct "$c32" 99%)")"

# Three replicas: one wrk each at once (11 + 11 + 10 connections).
loads=()
for i in 0 1 2; do
  conns=$([ "$i" = 2 ] && echo 10 || echo 11)
  run_wrk "http://127.0.0.1:${ports[$i]}/v1/chat/completions" "$conns" "$TEAM_TOKEN" > "$work/w$i" &
  loads+=($!)
done
for l in "${loads[@]}"; do wait "$l"; done
total=0; worst=0
for i in 0 1 2; do
  out=$(cat "$work/w$i")
  total=$((total + $(rps "$out")))
  worst=$(awk -v a="$worst" -v b="$(to_ms "$(pct "$out" 99%)")" 'BEGIN{print (b > a ? b : a)}')
done
c1=$(run_wrk "http://127.0.0.1:${ports[1]}/v1/chat/completions" 1 "$TEAM_TOKEN")
row "PostgreSQL, three replicas" "$c1" "$total" "$worst"
printf '(this machine: %s cores; every replica, PostgreSQL, the upstream and wrk share them)\n' "$(nproc)"

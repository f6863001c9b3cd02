#!/usr/bin/env bash
# Desktop app figures under Xvfb: cold start to a mapped window with the UI's first data on
# screen (the UI sets the window title to "Portolan — <n> prompts" once the library has loaded),
# and the idle memory of the whole process tree (the app plus WebKit's web and network
# processes). Prints a table; asserts nothing. Needs `scripts/setup.sh --test` and a built UI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p portolan-desktop
BIN=$PWD/target/release/portolan-desktop
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  set -euo pipefail
  export PORTOLAN_HOME='"$work"'/home PORTOLAN_KEYRING=0 WEBKIT_DISABLE_COMPOSITING_MODE=1
  runs=()
  for i in 1 2 3; do
    rm -rf "$PORTOLAN_HOME"
    start=$(date +%s%N)
    '"$BIN"' & pid=$!
    ready=""
    for _ in $(seq 1500); do
      if xwininfo -root -tree 2>/dev/null | grep -q "Portolan — "; then ready=$(( ($(date +%s%N) - start) / 1000000 )); break; fi
      sleep 0.01
    done
    runs+=("${ready:-timeout}")
    if [ "$i" = 3 ]; then
      sleep 5
      # Memory of the app and every descendant (WebKit runs in child processes): RSS counts
      # shared libraries once per process; PSS splits shared pages between them (fairer sum).
      pids="$pid"; frontier="$pid"
      while [ -n "$frontier" ]; do
        next=""
        for p in $frontier; do for c in $(pgrep -P "$p" || true); do pids="$pids $c"; next="$next $c"; done; done
        frontier="$next"
      done
      rss=0; pss=0
      for p in $pids; do
        r=$(awk "/^Rss:/ {print \$2}" /proc/$p/smaps_rollup 2>/dev/null || echo 0)
        q=$(awk "/^Pss:/ {print \$2}" /proc/$p/smaps_rollup 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0})); pss=$((pss + ${q:-0}))
      done
      tree="$((pss / 1024)) MB PSS ($((rss / 1024)) MB RSS) in $(echo $pids | wc -w) processes"
    fi
    kill -TERM $pid; wait $pid 2>/dev/null || true
  done
  printf "\nPortolan desktop (release build, Xvfb 1280x800, software rendering)\n"
  printf "%-52s %s\n" "cold start to first data on screen (3 runs, ms)" "${runs[*]}"
  printf "%-52s %s\n" "idle memory of the process tree, 5 s after start" "$tree"
'

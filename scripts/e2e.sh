#!/usr/bin/env bash
# End-to-end test of the desktop app: the real window under Xvfb, driven through WebDriver
# (tauri-driver + WebKitWebDriver), on a throwaway data directory. Screenshots land in
# target/e2e-screenshots/. Expects the UI built (ui/dist) and `scripts/setup.sh --desktop` done.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "e2e: installing tauri-driver"
  cargo install tauri-driver --locked --version 2.1.0 --quiet
fi
cargo build -p portolan-desktop --quiet
cargo test -p portolan-desktop --test e2e --no-run --quiet

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export PORTOLAN_HOME="$home" PORTOLAN_KEYRING=0 PORTOLAN_E2E_APP="$PWD/target/debug/portolan-desktop"
# Software rendering: Xvfb has no GPU, and WebKit's compositing paths misbehave without one.
export WEBKIT_DISABLE_COMPOSITING_MODE=1 LIBGL_ALWAYS_SOFTWARE=1
rm -rf target/e2e-screenshots

xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  tauri-driver --port 4444 >target/e2e-driver.log 2>&1 &
  driver=$!
  # SIGTERM, not SIGKILL: tauri-driver then stops its WebKitWebDriver child too.
  trap "kill -TERM $driver 2>/dev/null; wait $driver 2>/dev/null" EXIT
  cargo test -p portolan-desktop --test e2e --quiet -- --ignored --nocapture --test-threads=1
'
echo "e2e: screenshots in target/e2e-screenshots/"

#!/usr/bin/env bash
# End-to-end test of the desktop app: the real window under Xvfb, driven through WebDriver
# (tauri-driver + WebKitWebDriver), on a throwaway data directory. Screenshots land in
# target/e2e-screenshots/. Expects the UI built (ui/dist) and `scripts/setup.sh --desktop` done.
# E2E_TEST picks the test (default: the user journey); E2E_RELEASE=1 drives a release build of
# the app (bench/compare-matrix.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
E2E_TEST=${E2E_TEST:-a_user_writes}
if [ "${E2E_RELEASE:-0}" = 1 ]; then app_flags=(--release); app_dir=release; else app_flags=(); app_dir=debug; fi

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "e2e: installing tauri-driver"
  cargo install tauri-driver --locked --version 2.1.0 --quiet
fi
cargo build -p portolan-desktop --quiet "${app_flags[@]}"
cargo build -p portolan --bin portolan --quiet
cargo build -p fake-providers --bin fake-upstream --quiet
cargo test -p portolan-desktop --test e2e --no-run --quiet

home=$(mktemp -d)
export PORTOLAN_HOME="$home" PORTOLAN_KEYRING=0 PORTOLAN_E2E_APP="$PWD/target/$app_dir/portolan-desktop" E2E_TEST

# A fake OpenAI on 127.0.0.1 that rate-limits its first three requests (the engine's first call
# and its two retries), so the comparison has to back off and queue the cell again; its key has
# a token budget with a low alert threshold, so the first answer raises a budget alert.
exec 3< <(exec target/debug/fake-upstream --rate-limit-first 3 --retry-after-ms 200)
upstream=$!
trap 'kill "$upstream" 2>/dev/null; rm -rf "$home"' EXIT
# Its first line is its base URL, printed once it listens.
read -r base <&3 || { echo "e2e: fake-upstream did not start"; exit 1; }
echo "sk-e2e-fake-0123456789abcdefghijklmnop" |
  target/debug/portolan keys add e2e-openai --provider openai --base-url "$base/v1" >/dev/null
target/debug/portolan keys budget e2e-openai --tokens 1000000 --alert 0.000001 >/dev/null
# Software rendering: Xvfb has no GPU, and WebKit's compositing paths misbehave without one.
export WEBKIT_DISABLE_COMPOSITING_MODE=1 LIBGL_ALWAYS_SOFTWARE=1
rm -rf target/e2e-screenshots

xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  tauri-driver --port 4444 >target/e2e-driver.log 2>&1 &
  driver=$!
  # SIGTERM, not SIGKILL: tauri-driver then stops its WebKitWebDriver child too.
  trap "kill -TERM $driver 2>/dev/null; wait $driver 2>/dev/null" EXIT
  cargo test -p portolan-desktop --test e2e --quiet -- --ignored --nocapture --test-threads=1 "$E2E_TEST"
'
echo "e2e: screenshots in target/e2e-screenshots/"

#!/usr/bin/env bash
# End-to-end test of the desktop app: the real window under Xvfb, driven through WebDriver
# (tauri-driver + WebKitWebDriver), on a throwaway data directory. Screenshots land in
# target/e2e-screenshots/. Expects the UI built (ui/dist) and `scripts/setup.sh --desktop` done.
# E2E_TEST picks the test (default: the user journey); E2E_RELEASE=1 drives a release build of
# the app (bench/compare-matrix.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
E2E_TEST=${E2E_TEST:-a_user_}
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

# The evaluation journey: a judge on its own fake upstream, which answers every request with a
# passing verdict; the seeded judge prompt points at it (as a user would point it at a real one).
exec 4< <(exec target/debug/fake-upstream --reply '{"reason": "The answer stays on topic.", "pass": true}')
judge=$!
trap 'kill "$upstream" "$judge" 2>/dev/null; rm -rf "$home"' EXIT
read -r judge_base <&4 || { echo "e2e: the judge's fake-upstream did not start"; exit 1; }
echo "sk-e2e-judge-0123456789abcdefghijklmnop" |
  target/debug/portolan keys add e2e-judge --provider openai --base-url "$judge_base/v1" >/dev/null
target/debug/portolan prompts show judge-rubric --raw |
  sed "s|^  id: gpt-4o-mini\$|  id: '@e2e-judge/gpt-4o-mini'|" > "$home/judge-rubric.prompt.md"
target/debug/portolan prompts save judge-rubric --file "$home/judge-rubric.prompt.md" -m "Judge on the e2e key" >/dev/null
target/debug/portolan prompts label judge-rubric 2 production >/dev/null
# A prompt in two versions (the second drops the word the check looks for), labelled, and the
# eval that gates it.
printf -- '---\nname: digest\nmodel:\n  id: demo/fast\n---\nuser:\nSummarise: {{text}}\n' > "$home/digest.prompt.md"
target/debug/portolan prompts create digest --file "$home/digest.prompt.md" >/dev/null
sed -i 's/^Summarise: /Condense: /' "$home/digest.prompt.md"
target/debug/portolan prompts save digest --file "$home/digest.prompt.md" -m "Shorter instruction" >/dev/null
target/debug/portolan prompts label digest 1 production >/dev/null
cat > "$home/digest-check.eval.yaml" <<'EVAL'
name: digest-check
prompts: [digest]
models: [demo/fast]
rows:
  - {text: "Portolan keeps prompts on your machine."}
  - {text: "The gateway speaks the OpenAI API."}
assert:
  - type: contains
    value: Summarise
    gate: pass_rate >= 0.9
EVAL
target/debug/portolan eval save "$home/digest-check.eval.yaml" >/dev/null
# The rows the Datasets screen imports (the file dialog is answered with this path).
cat > "$home/notes.jsonl" <<'ROWS'
{"text": "Portolan keeps prompts, keys and logs on your own machine."}
{"text": "The gateway speaks the OpenAI API on 127.0.0.1 and needs a token."}
{"text": "Datasets have versions; experiments compare prompt versions and models."}
ROWS
export PORTOLAN_E2E_FILE_DIALOG="$home/notes.jsonl"
# The image the tool-use journey attaches to a message (a 1×1 PNG).
echo 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==' | base64 -d > "$home/sky.png"
export PORTOLAN_E2E_IMAGE_DIALOG="$home/sky.png"
if [ "$E2E_TEST" = experiment_of_1000_rows_by_4_columns ]; then
  # The benchmark's dataset and a second version of summarize.
  python3 -c 'import json
for i in range(1, 1001):
    print(json.dumps({"text": f"Release {i}: faster start-up, fewer crashes and {i} small fixes.", "bullets": 2}))' > "$home/bench.jsonl"
  target/debug/portolan datasets create bench-1000 --file "$home/bench.jsonl" >/dev/null
  target/debug/portolan prompts show summarize --raw | sed 's/^Summarise the following text\.$/Summarise this text./' > "$home/summarize.prompt.md"
  target/debug/portolan prompts save summarize --file "$home/summarize.prompt.md" -m "Shorter" >/dev/null
fi
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

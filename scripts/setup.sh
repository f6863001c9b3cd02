#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build Portolan, and with --test what the tests
# also need (the OpenAI SDKs for the gateway's compatibility tests). Safe to run twice: it installs
# only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=0
[ "${1:-}" = "--test" ] && for_tests=1

# Packages the engine build needs (C compiler for ring and the bundled SQLite, pkg-config).
# libssl-dev: git2's https transport (bundle import from a remote repository).
APT_PACKAGES=(build-essential pkg-config ca-certificates git libssl-dev)
if [ "$for_tests" = 1 ]; then
  APT_PACKAGES+=(python3 python3-venv)
  # Node.js only when there is none (a NodeSource build already carries npm).
  command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is not installed. Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
[ "$for_tests" = 1 ] || exit 0

# The official OpenAI SDKs, for the gateway's compatibility tests (tests/sdk), in a virtualenv
# so the system Python stays untouched.
if [ ! -x tests/sdk/.venv/bin/python ] || ! tests/sdk/.venv/bin/python -c "import openai" >/dev/null 2>&1; then
  echo "setup: installing the openai Python package (tests/sdk/.venv)"
  python3 -m venv tests/sdk/.venv
  tests/sdk/.venv/bin/python -m pip install --quiet --disable-pip-version-check openai
fi
if [ ! -f tests/sdk/node_modules/openai/package.json ]; then
  echo "setup: installing the openai npm package (tests/sdk)"
  (cd tests/sdk && npm install --no-audit --no-fund --silent)
fi


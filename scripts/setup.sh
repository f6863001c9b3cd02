#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build Portolan. Safe to run twice: it installs
# only what is missing.
#   scripts/setup.sh            the engine and CLI
#   scripts/setup.sh --desktop  also the desktop app (WebKitGTK, Node packages of ui/)
#   scripts/setup.sh --test     everything the tests need: the desktop, Xvfb and WebKitWebDriver
#                               for the end-to-end test, tauri-driver, and the OpenAI SDKs
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=0
for_desktop=0
case "${1:-}" in
  --test) for_tests=1; for_desktop=1 ;;
  --desktop) for_desktop=1 ;;
esac

# Packages the engine build needs (C compiler for ring and the bundled SQLite, pkg-config).
# libssl-dev: git2's https transport (bundle import from a remote repository).
APT_PACKAGES=(build-essential pkg-config ca-certificates git libssl-dev)
if [ "$for_desktop" = 1 ]; then
  # Tauri 2 on Linux (measured recipe: shared/BUILD-FACTS.md).
  APT_PACKAGES+=(libwebkit2gtk-4.1-dev curl wget file libxdo-dev libayatana-appindicator3-dev librsvg2-dev)
  # Node.js only when there is none (a NodeSource build already carries npm).
  command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
fi
if [ "$for_tests" = 1 ]; then
  # imagemagick: the end-to-end test's screenshots (import -window root); x11-utils: bench/desktop.sh.
  # postgresql, redis-server: the team store's tests start throwaway servers of their own on
  # 127.0.0.1 on unused ports (the packages' own services are not used); postgresql-server-dev-all
  # builds pgvector for them (below).
  APT_PACKAGES+=(python3 python3-venv xvfb xauth webkit2gtk-driver imagemagick x11-utils postgresql postgresql-server-dev-all redis-server)
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
# The UI's packages, installed again whenever package.json or the lockfile changed (a cached
# node_modules from an older checkout would lack new tools such as the linter).
ui_stamp=ui/node_modules/.portolan-installed
ui_hash() { cat ui/package.json ui/package-lock.json | sha256sum | cut -d' ' -f1; }
if [ "$for_desktop" = 1 ] && [ "$(cat "$ui_stamp" 2>/dev/null)" != "$(ui_hash)" ]; then
  echo "setup: installing the desktop UI's npm packages (ui/)"
  # npm install rather than npm ci: the registry mirror may lack other platforms' optional
  # packages of @tauri-apps/cli that the lockfile names.
  (cd ui && npm install --no-audit --no-fund --silent)
  ui_hash > "$ui_stamp"
fi
[ "$for_tests" = 1 ] || exit 0

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver (WebDriver for the desktop end-to-end test)"
  cargo install tauri-driver --locked --version 2.1.0 --quiet
fi

# pgvector for the team store's semantic cache. Debian 12 has no package of it: its Debian 13
# source package is fetched with a private apt configuration (the system's sources are left as
# they are) and built against the installed PostgreSQL, once.
pg_config=$(ls /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -1)
if [ -n "$pg_config" ] && [ ! -f "$("$pg_config" --sharedir)/extension/vector.control" ]; then
  echo "setup: building pgvector for PostgreSQL $("$pg_config" --version | awk '{print $2}')"
  pgv=$(mktemp -d)
  mkdir -p "$pgv/lists/partial"
  echo "deb-src http://deb.debian.org/debian trixie main" > "$pgv/sources.list"
  apt_pgv=(-o Dir::Etc::SourceList="$pgv/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::State::Lists="$pgv/lists" -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root -qq)
  apt-get "${apt_pgv[@]}" update
  (cd "$pgv" && apt-get "${apt_pgv[@]}" source --download-only pgvector 2>/dev/null)
  tar -xzf "$pgv"/pgvector_*.orig.tar.gz -C "$pgv"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  (cd "$pgv"/pgvector-*/ && make -s PG_CONFIG="$pg_config" OPTFLAGS="" >/dev/null \
     && $SUDO make -s PG_CONFIG="$pg_config" install >/dev/null)
  rm -rf "$pgv"
fi

# The client libraries of the gateway's compatibility tests (tests/sdk): Python ones in a
# virtualenv (the system Python stays untouched), npm ones in tests/sdk/node_modules; installed
# again whenever their lists change.
py_stamp=tests/sdk/.venv/.portolan-installed
py_hash() { sha256sum < tests/sdk/requirements.txt | cut -d' ' -f1; }
if [ ! -x tests/sdk/.venv/bin/python ] || [ "$(cat "$py_stamp" 2>/dev/null)" != "$(py_hash)" ]; then
  echo "setup: installing the Python client libraries (tests/sdk/requirements.txt into tests/sdk/.venv)"
  python3 -m venv tests/sdk/.venv
  tests/sdk/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
  py_hash > "$py_stamp"
fi
js_stamp=tests/sdk/node_modules/.portolan-installed
js_hash() { cat tests/sdk/package.json tests/sdk/package-lock.json | sha256sum | cut -d' ' -f1; }
if [ "$(cat "$js_stamp" 2>/dev/null)" != "$(js_hash)" ]; then
  echo "setup: installing the npm client libraries (tests/sdk)"
  (cd tests/sdk && npm install --no-audit --no-fund --silent)
  js_hash > "$js_stamp"
fi

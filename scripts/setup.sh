#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test Portolan. Safe to run twice: it
# installs only missing packages and does nothing when everything is present.
set -euo pipefail

# Packages the engine build needs (C compiler for ring and the bundled SQLite, pkg-config).
APT_PACKAGES=(build-essential pkg-config ca-certificates git)

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

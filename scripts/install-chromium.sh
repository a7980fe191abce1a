#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium and its WebDriver server, for the trace viewer's
# browser tests (crates/minimalagent-cli/tests/viewer_browser.rs):
#   /usr/bin/chromium and /usr/bin/chromedriver.
# Idempotent: does nothing when both are installed. Needs root (CI runs as root); uses only
# Debian's package archive, non-interactively.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "install-chromium: $(chromium --version 2>/dev/null || echo chromium) and $(chromedriver --version 2>/dev/null | head -n1 || echo chromedriver) are installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
  fi
  echo "install-chromium: run as root (apt-get install chromium chromium-driver)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core
echo "install-chromium: $(chromium --version) and $(chromedriver --version | head -n1) installed"

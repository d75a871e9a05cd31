#!/usr/bin/env bash
# Install the Debian packages the test suite runs for real: PostgreSQL's server, the DejaVu
# fonts used in receipt PDFs, Chromium for the end-to-end tests (Playwright drives
# /usr/bin/chromium; it never downloads a browser of its own), ClamAV's clamd for the
# virus-scan tests (they bring their own signatures; no freshclam), and what builds and runs
# the images without Docker (mmdebstrap, umoci, runc, containerd, the CNI plugins: `make
# images`, the real node). A no-op when all are there.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v runuser >/dev/null || missing+=(util-linux)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/clamd ] || missing+=(clamav-daemon clamav)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v umoci >/dev/null || missing+=(umoci)
command -v runc >/dev/null || missing+=(runc)
command -v containerd >/dev/null || missing+=(containerd)
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing from Debian: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null; then
  SUDO="sudo"
else
  echo "Please install as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"

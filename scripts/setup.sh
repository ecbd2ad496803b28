#!/usr/bin/env bash
# Install everything this project needs on a fresh Debian machine, then audit the bundled example.
#   bash scripts/setup.sh            install, then audit examples/haiyue.yaml
#   bash scripts/setup.sh --no-demo  install only (the test command uses this)
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

# System packages: the full Noto Sans CJK font (the report's fallback for rare characters),
# Pango for WeasyPrint, HarfBuzz's subsetter (WeasyPrint subsets the report's fonts with it),
# poppler's pdftotext/pdffonts for the report tests, Chromium, the browser the web pages are tested in,
# and PostgreSQL, the bureau-server database the service is also tested against.
APT_PACKAGES=(fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils chromium postgresql)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The library in editable mode with its test tools; `pip install .` works too for users.
python3 -m pip install -q -e ".[test]"

if [ "${1:-}" != "--no-demo" ]; then
    echo
    status=0
    compliance audit examples/haiyue.yaml --format text || status=$?
    echo "(exit status $status: 0 conforming, 1 non-conforming, 2 bad input)"
    echo
    # A district round: 141 centres from the collection workbook, six rows broken on purpose, compared
    # with last year's round. The outputs go to a temporary folder.
    out="${TMPDIR:-/tmp}/compliance-demo-round"
    status=0
    compliance batch examples/yinzhou-district/centres.xlsx --rules yinzhou -o "$out" \
        --previous examples/yinzhou-district/2025-round || status=$?
    echo "(exit status $status: 0 all conform, 1 some do not, 2 some rows were refused; outputs in $out)"
fi

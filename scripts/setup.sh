#!/usr/bin/env bash
# Install everything this project needs on a fresh Debian machine, then audit the bundled example.
#   bash scripts/setup.sh            install, then audit examples/haiyue.yaml, a district round and its ledger
#   bash scripts/setup.sh --no-demo  install only (the test command uses this)
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

# System packages: the full Noto Sans CJK font (the report's fallback for rare characters),
# Pango for WeasyPrint, HarfBuzz's subsetter (WeasyPrint subsets the report's fonts with it),
# poppler's pdftotext/pdffonts for the report tests, Chromium, the browser the web pages are tested in,
# PostgreSQL, the bureau-server database the service is also tested against, nginx with openssl, the
# front server with TLS that docs/deploy.md puts before the service (tests/test_deploy.py runs it), and
# LibreOffice Calc without its windows, which prints the workbooks in the tests as an office prints them.
APT_PACKAGES=(fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils chromium postgresql
              nginx openssl libreoffice-calc-nogui)
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
    # with last year's round, with the bureau's waivers. The outputs go to a temporary folder.
    demo="${TMPDIR:-/tmp}/compliance-demo"
    out="$demo/2026-round"
    status=0
    compliance batch examples/yinzhou-district/centres.xlsx --rules yinzhou -o "$out" \
        --waivers examples/yinzhou-district/waivers.yaml --previous examples/yinzhou-district/2025-round || status=$?
    echo "(exit status $status: 0 all conform, 1 some do not, 2 some rows were refused; outputs in $out)"
    echo
    # The district's inspections of December (17 centres, photos by clause) set beside those self-checks, with the
    # bureau's waivers, then the rectification ledger of last year's round, this year's and the inspections.
    inspections="$demo/2026-inspection-round"
    status=0
    compliance batch examples/yinzhou-district/2026-inspection --rules yinzhou -o "$inspections" \
        --waivers examples/yinzhou-district/waivers.yaml --self "$out" || status=$?
    echo "(exit status $status; outputs in $inspections)"
    echo
    ledger="$demo/ledger.xlsx"
    compliance ledger examples/yinzhou-district/2025-round "$out" "$inspections" -o "$ledger" --as-of 2027-01-15
    echo "(the rectification ledger, 整改台账: $ledger)"
fi

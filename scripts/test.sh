#!/usr/bin/env bash
# Run the test suite on a clean clone: installs what the tests need first (idempotent), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-demo
python3 -m pytest "$@"

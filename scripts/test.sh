#!/usr/bin/env bash
# Run the checks on a clean clone: installs what they need first (idempotent), then the strict type
# check of the package and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-demo
python3 -m mypy compliance          # strict, as configured in setup.cfg
# the tests in parallel, one process per core (at most four: each may start a browser, a service and PostgreSQL);
# a test file's tests (a class's, in a class) stay in one process: its services and databases are set up once
python3 -m pytest --numprocesses auto --maxprocesses 4 --dist loadscope "$@"

#!/usr/bin/env bash
# The test command of README.md: set up what is missing (idempotent), then run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` for the end-to-end runs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
exec "$root/.venv/bin/python" -m pytest "$@"

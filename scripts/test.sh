#!/usr/bin/env bash
# The test command of README.md: set up what is missing (idempotent), lint the whole tree with ruff
# (ruff.toml), then run the test suite. Extra arguments go to pytest, e.g.
# `bash scripts/test.sh -m slow` for the long distillation runs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
echo "[test] ruff check ."
"$root/.venv/bin/ruff" check .
exec "$root/.venv/bin/python" -m pytest "$@"

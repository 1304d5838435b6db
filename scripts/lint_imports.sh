#!/usr/bin/env bash
# Check the layering contracts ([tool.importlinter] in pyproject.toml) on the package as installed.
# The source folders (core/, plugins/, targets/) only become one `hwnas` tree when installed, so
# install a copy (no dependencies) into a temporary folder and let import-linter read that.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
trap 'rm -rf "$tree"; rm -rf build' EXIT
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps \
  --no-build-isolation --target "$tree" . >/dev/null
(cd "$tree" && PYTHONPATH="$tree" lint-imports "$OLDPWD/pyproject.toml" --no-cache)

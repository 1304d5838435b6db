#!/usr/bin/env bash
# The whole test suite, one pytest process per test file (the testpaths of pyproject.toml).
#
# Each file gets a fresh interpreter: the suite drives several native runtimes
# (TVM, OpenVINO, ONNX Runtime, torch, XGBoost) in-process, and in one long
# process their accumulated state crashed the interpreter (SIGSEGV) in an
# unrelated test near the end of the run, while every file passes alone.
# Extra arguments go to every pytest call (e.g. -m "not slow").
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(python3 - <<'PY'
import pathlib, tomllib
paths = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
for path in paths:
    for f in sorted(pathlib.Path(path).glob("test_*.py")):
        print(f)
PY
)
failed=()
for f in $files; do
  python3 -m pytest -q -p no:cacheprovider "$@" "$f"
  rc=$?
  # 5: no test selected in this file (e.g. every test is slow and -m "not slow")
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
    failed+=("$f (exit $rc)")
  fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all $(echo $files | wc -w) test files passed"

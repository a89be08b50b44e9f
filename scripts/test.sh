#!/usr/bin/env bash
# The whole test suite: lint, format, types, architecture layers, then pytest on SQLite and,
# when GONGSHU_TEST_DATABASE_URL is set, PostgreSQL; browser tests in Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "== installing Debian chromium for the browser tests"
    (apt-get install -y -q chromium >/dev/null 2>&1 || \
      (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) || \
      echo "!! could not install chromium: browser tests will be skipped"
  else
    echo "!! /usr/bin/chromium is missing and this is not root: browser tests will be skipped"
  fi
fi

if [ -z "${GONGSHU_TEST_DATABASE_URL:-}" ]; then
  echo "!! GONGSHU_TEST_DATABASE_URL is not set: PostgreSQL tests will be skipped"
  echo "   (e.g. GONGSHU_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test)"
fi

echo "== ruff";         $BIN/ruff check src tests bench
echo "== ruff format";  $BIN/ruff format --check src tests bench
echo "== mypy --strict"; $BIN/mypy
echo "== import-linter"; $BIN/lint-imports
echo "== pytest"
exec $BIN/python -m pytest -n "${GONGSHU_TEST_WORKERS:-2}" "$@"

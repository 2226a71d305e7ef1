#!/usr/bin/env bash
# Rebuild the fuzz seed corpora (fuzz/corpus/<target>/, git-ignored) from the
# MRT captures in shared/data/mrt. Safe to re-run: seeds are named by content
# hash and inputs the fuzzer added are kept (pass --clean to start afresh).
# Options are passed to seed.py (--mrt-dir, --per-shape, --max, --clean).
set -euo pipefail
exec python3 "$(dirname "${BASH_SOURCE[0]}")/seed.py" "$@"

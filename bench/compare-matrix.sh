#!/usr/bin/env bash
# The comparison matrix at its largest in the real window (release build, Xvfb): 8 models (three
# demo, five OpenAI ones served by a local fake upstream) × 50 variable sets = 400 streamed
# cells, run ten times. Prints per run: wall time, cells kept in the DOM (virtualised rows),
# time per scroll step of the grid, and the memory of the app's process tree, to see that it
# stays flat as runs accumulate. Asserts only that every run finished. Needs
# `scripts/setup.sh --test` and a built UI (`npm --prefix ui run build`).
set -euo pipefail
cd "$(dirname "$0")/.."
E2E_TEST=matrix_of_8_models_by_50_rows E2E_RELEASE=1 exec scripts/e2e.sh 2>&1 | grep -E "^matrix:|test result|panicked|error"

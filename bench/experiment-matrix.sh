#!/usr/bin/env bash
# An experiment at scale in the real window (release build, Xvfb): 1,000 dataset rows × 4 columns
# (two versions of summarize × demo/fast and an OpenAI model on a local fake upstream) with a
# contains check = 4,000 streamed, checked cells, run ten times. Prints per run: wall time, cells
# kept in the DOM (virtualised rows), time per scroll step of the grid, and the memory of the
# app's process tree. Asserts only that every run finished. Needs `scripts/setup.sh --test` and a
# built UI (`npm --prefix ui run build`).
set -euo pipefail
cd "$(dirname "$0")/.."
E2E_TEST=experiment_of_1000_rows_by_4_columns E2E_RELEASE=1 exec scripts/e2e.sh 2>&1 | grep -E "^experiment:|test result|panicked|error"

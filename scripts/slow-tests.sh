#!/usr/bin/env bash
# The slow fault suite (quality.md, reliability: exactly-once, crash mid-write, data loss):
# Redis killed/paused, PostgreSQL cut, every fake-X fault during writes and a sync, and
# `kill -9` of `xads serve` mid-write. A few minutes on 2 cores; `.ci/run` calls it.
#
#   scripts/slow-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
XADS_SLOW_TESTS=1 cargo test -p xads --test integration -- faults:: "$@"

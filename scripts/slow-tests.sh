#!/usr/bin/env bash
# The slow fault suite (quality.md, reliability: exactly-once, crash mid-write, data loss):
# Redis killed/paused, PostgreSQL cut, every fake-X fault during writes and a sync, and
# `kill -9` of `xads serve` mid-write. A few minutes on 2 cores; `.ci/run` calls it.
# The tests are `#[ignore = "slow: scripts/slow-tests.sh"]`, so a plain `cargo test` lists them
# as ignored; this runs them (and only them: the `faults::` filter) with `--include-ignored`.
#
#   scripts/slow-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p xads --test integration -- faults:: --include-ignored "$@"

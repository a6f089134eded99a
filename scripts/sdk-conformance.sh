#!/usr/bin/env bash
# SDK conformance run: X's official Python Ads SDK (twitter-ads 11.0.0, API version set to 12)
# drives `xads fake-x` and compares every answer's keys with X's fixtures.
#   1. builds a venv from PyPI (one SKIP line and exit 0 where pip cannot reach PyPI);
#   2. starts the release (else debug) `xads fake-x` on a free loopback port;
#   3. runs scripts/sdk-conformance/conformance.py against it, stops the fake, and exits non-zero
#      on any failed step.
# Env: XADS_BIN (the xads binary), XADS_FIXTURES (default ../shared/fixtures/x-ads-api next to the
# repository), SDK_VENV (default target/sdk-conformance-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
here="$root/scripts/sdk-conformance"
fixtures=${XADS_FIXTURES:-"$root/../shared/fixtures/x-ads-api"}
venv=${SDK_VENV:-"$root/target/sdk-conformance-venv"}
python=${PYTHON:-python3}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "SKIP sdk conformance: no $python on this machine"
  exit 0
fi
# PyPI reachable? (pip download of the one pinned package, nothing installed)
probe=$(mktemp -d)
if ! "$python" -m pip download --no-deps -q -d "$probe" twitter-ads==11.0.0 >/dev/null 2>&1; then
  rm -rf "$probe"
  echo "SKIP sdk conformance: pip cannot download twitter-ads==11.0.0 from PyPI here"
  exit 0
fi
rm -rf "$probe"
if [ ! -d "$fixtures" ]; then
  echo "sdk conformance: fixtures not found at $fixtures (set XADS_FIXTURES)" >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"

bin=${XADS_BIN:-}
if [ -z "$bin" ]; then
  target=${CARGO_TARGET_DIR:-"$root/target"}
  for b in "$target/release/xads" "$target/debug/xads"; do
    if [ -x "$b" ]; then bin=$b; break; fi
  done
fi
if [ -z "$bin" ]; then
  cargo build -q -p xads --bin xads
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/xads"
fi

out=$(mktemp)
# --port 0: the OS picks a free loopback port; the fake prints its URL first.
RUST_LOG=warn "$bin" fake-x --port 0 >"$out" 2>/dev/null &
fake=$!
stop() {
  kill -INT "$fake" 2>/dev/null || true
  wait "$fake" 2>/dev/null || true
  rm -f "$out"
}
trap stop EXIT
for _ in $(seq 1 100); do
  grep -q '^export FAKE_X_FOREIGN_ACCOUNT_ID=' "$out" && break
  if ! kill -0 "$fake" 2>/dev/null; then
    echo "sdk conformance: xads fake-x exited early" >&2
    exit 1
  fi
  sleep 0.1
done
# The fake's own credentials and the seeded ids (never the service's secrets).
eval "$(grep '^export FAKE_X_' "$out")"
echo "fake X at $FAKE_X_URL ($bin)"

XADS_FIXTURES="$fixtures" "$venv/bin/python" "$here/conformance.py"

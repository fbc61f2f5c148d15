#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need,
# then runs every package's tests under the race detector, and the
# allocation tests without it.
#
#   ./scripts/test.sh            # default run (about 2 minutes on 2 cores)
#   GOMSGR_STRESS=1 ./scripts/test.sh   # larger stress settings (see README)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
	echo "test.sh: Go 1.26 or newer is required (https://go.dev/dl/)" >&2
	exit 1
fi

go mod download

go test -race -count=1 -timeout 30m ./... "$@"

# The allocation tests skip themselves under the race detector (it
# allocates): run them once more without it (a few seconds).
go test -count=1 -timeout 10m -run 'Alloc' ./...
go test -count=1 -timeout 10m -run 'TestMessenger[A-Za-z]*$/ZeroAllocs$' ./conn ./simple

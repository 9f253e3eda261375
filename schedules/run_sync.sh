#!/usr/bin/env bash
# Cron entry point: one sync at a time per warehouse, from the repo root so .dlt/ resolves.
# Exit codes: those of `labsync sync` (0 ok, 1 failed, 2 configuration), 75 when another
# sync still holds the lock and this one was skipped.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
lock="${LABSYNC_LOCK:-warehouse/.labsync/sync.lock}"
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
if ! flock -n 9; then
    echo "labsync: another sync holds $lock; skipping" >&2
    exit 75
fi
exec .venv/bin/labsync sync "$@"

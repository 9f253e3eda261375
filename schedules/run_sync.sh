#!/usr/bin/env bash
# labsync's entry point for cron, systemd timers and CI: at most one `labsync sync` at a time.
#
#   schedules/run_sync.sh [labsync sync options...]      e.g. --reconcile, --source model_lab
#
# Runs from the repository root (so .dlt/ resolves), takes an flock so runs never overlap,
# stops the sync after LABSYNC_TIMEOUT, appends everything to a log file and exits with
# labsync's own code:
#   0    success
#   1    the sync failed (API error after retries, type change, failing audit)
#   2    usage or configuration error (labsync's, or a bad setting of this script)
#   75   skipped: another sync holds the lock (this script's flock or labsync's warehouse lock)
#   124  timed out: SIGTERM after LABSYNC_TIMEOUT (137 if it then ignored it for 60 s)
#
# Environment (all optional; see schedules/README.md):
#   LABSYNC_ROOT        repository root; default: the folder above this script
#   LABSYNC_VENV        virtualenv holding labsync; default: <root>/.venv
#   LABSYNC_BIN         the labsync command, split on spaces; default: $LABSYNC_VENV/bin/labsync
#   LABSYNC_WAREHOUSE   the warehouse file (labsync reads it too); default: warehouse/labsync.duckdb
#   LABSYNC_LOCK        lock file; default: <warehouse folder>/.labsync/<stem>.run_sync.lock
#   LABSYNC_LOCK_WAIT   seconds to wait for the lock before skipping with 75; default: 0
#   LABSYNC_LOG         log file to append to, or "-" for stdout/stderr (systemd, CI);
#                       default: <warehouse folder>/logs/<stem>-sync.log
#   LABSYNC_TIMEOUT     timeout(1) duration (3600, 50m, 2h; 0 = none); default: 50m
#   LABSYNC_LOG_LEVEL   labsync --log-level (DEBUG, INFO, WARNING)
#   LABSYNC_LOG_FORMAT  labsync --log-format (text, json)
set -uo pipefail

readonly EXIT_USAGE=2 EXIT_SKIPPED=75 EXIT_TIMED_OUT=124

die() {
    echo "run_sync.sh: $*" >&2
    exit "$EXIT_USAGE"
}

note() {
    printf '%s run_sync[%d]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*"
}

script_dir="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
root="${LABSYNC_ROOT:-$script_dir/..}"
cd "$root" || die "cannot change to the repository root '$root' (LABSYNC_ROOT)"

warehouse="${LABSYNC_WAREHOUSE:-warehouse/labsync.duckdb}"
warehouse_dir="$(dirname "$warehouse")"
stem="$(basename "$warehouse")"
stem="${stem%.*}"
lock="${LABSYNC_LOCK:-$warehouse_dir/.labsync/$stem.run_sync.lock}"
log="${LABSYNC_LOG:-$warehouse_dir/logs/$stem-sync.log}"
timeout_after="${LABSYNC_TIMEOUT:-50m}"
lock_wait="${LABSYNC_LOCK_WAIT:-0}"
read -r -a labsync <<<"${LABSYNC_BIN:-${LABSYNC_VENV:-.venv}/bin/labsync}"

# settings are checked before the lock is taken, so a typo never looks like a skipped run
[[ $timeout_after =~ ^[0-9]+([.][0-9]+)?[smhd]?$ ]] ||
    die "LABSYNC_TIMEOUT='$timeout_after' is not a duration such as 3600, 50m, 2h or 0"
[[ $lock_wait =~ ^[0-9]+([.][0-9]+)?$ ]] ||
    die "LABSYNC_LOCK_WAIT='$lock_wait' is not a number of seconds"
((${#labsync[@]} > 0)) || die "LABSYNC_BIN is empty"
command -v "${labsync[0]}" >/dev/null ||
    die "labsync command not found: '${labsync[0]}' (in $(pwd)); set LABSYNC_BIN or" \
        "LABSYNC_VENV, or create the venv with 'make demo'"
for tool in flock timeout; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed (util-linux / coreutils)"
done

global_options=()
[[ -n ${LABSYNC_LOG_LEVEL:-} ]] && global_options+=(--log-level "$LABSYNC_LOG_LEVEL")
[[ -n ${LABSYNC_LOG_FORMAT:-} ]] && global_options+=(--log-format "$LABSYNC_LOG_FORMAT")

exec 3>&2 # the caller's stderr: failures are also reported there, so cron mails them
if [[ $log != "-" ]]; then
    mkdir -p "$(dirname "$log")" || die "cannot create the folder of the log file '$log'"
    exec >>"$log" 2>&1 || die "cannot append to the log file '$log' (LABSYNC_LOG)"
fi

mkdir -p "$(dirname "$lock")" || die "cannot create the folder of the lock file '$lock'"
# fd 9 stays open in labsync too: the lock outlives this shell if it is killed first
exec 9>>"$lock" || die "cannot open the lock file '$lock' (LABSYNC_LOCK)"
if [[ $lock_wait == 0 ]]; then
    flock -n 9
else
    flock -w "$lock_wait" 9
fi || {
    note "skipped: another sync holds $lock"
    exit "$EXIT_SKIPPED"
}

command=("${labsync[@]}" "${global_options[@]}" sync "$@")
if [[ $timeout_after != 0 ]]; then
    command=(timeout --kill-after=60 "$timeout_after" "${command[@]}")
fi
note "start: ${command[*]} (in $(pwd))"
started=$SECONDS

# run in the background so a TERM/INT sent to this script reaches the sync too
"${command[@]}" &
child=$!
trap 'signalled=1; kill -TERM "$child" 2>/dev/null' TERM INT
while true; do
    signalled=0
    wait "$child"
    code=$?
    # a trapped signal interrupts wait (>128) while the sync winds down: wait for its own code
    ((signalled)) || break
done
trap - TERM INT

elapsed=$((SECONDS - started))
case $code in
0) note "finished: ok in ${elapsed}s" ;;
"$EXIT_SKIPPED") note "skipped: labsync found the warehouse locked by another sync" ;;
"$EXIT_TIMED_OUT") note "timed out: stopped after LABSYNC_TIMEOUT=$timeout_after" ;;
*) note "failed: exit $code after ${elapsed}s" ;;
esac
if [[ $code != 0 && $code != "$EXIT_SKIPPED" && $log != "-" ]]; then
    echo "run_sync.sh: labsync sync exited $code; see $log" >&3
fi
exit "$code"

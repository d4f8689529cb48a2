#!/usr/bin/env bash
# medclaim-cron.sh — settle one month's hospital extracts into the bureau's persistent ledger.
#
#   medclaim-cron.sh [YYYY-MM]        default: last month
#
# Reads every .csv/.parquet/.xlsx in $MEDCLAIM_INBOX/YYYY-MM/, settles them as the next run of the
# ledger in $MEDCLAIM_LEDGER, then verifies the ledger.  Prints nothing when all went well, so cron
# mails only when a person should look.  Exits with medclaim's status (docs/ledger.md#exit-statuses);
# 5 (nothing new: the month was already settled) is reported as success (0) so that a re-run is silent.
#
# Sample crontab (2:30 on the 5th of each month, for the previous month):
#   MAILTO=settlement-desk@example.gov.cn
#   30 2 5 * *  /opt/medclaim/scripts/medclaim-cron.sh
#
# Settings (environment, or edit the defaults here):
MEDCLAIM=${MEDCLAIM:-medclaim}                                   # the medclaim executable
MEDCLAIM_RULES=${MEDCLAIM_RULES:-anhui/dongzhi-2021}             # rule set (id, file or region directory)
MEDCLAIM_LEDGER=${MEDCLAIM_LEDGER:-/srv/medclaim/ledger}         # the persistent ledger directory
MEDCLAIM_INBOX=${MEDCLAIM_INBOX:-/srv/medclaim/inbox}            # one sub-directory of extracts per month
MEDCLAIM_LOG=${MEDCLAIM_LOG:-/var/log/medclaim/medclaim.log}     # appended by every run
MEDCLAIM_WAIT=${MEDCLAIM_WAIT:-600}                              # seconds to wait if another run holds the ledger
MEDCLAIM_VERIFY=${MEDCLAIM_VERIFY:-1}                            # 1: `medclaim ledger verify` after the run

set -u
month=${1:-$(date -d "$(date +%Y-%m-01) -1 month" +%Y-%m)}
dir="$MEDCLAIM_INBOX/$month"

shopt -s nullglob nocaseglob
files=("$dir"/*.csv "$dir"/*.parquet "$dir"/*.xlsx)
if [ ${#files[@]} -eq 0 ]; then
    echo "medclaim-cron: no extracts (.csv/.parquet/.xlsx) in $dir" >&2
    exit 4
fi
mkdir -p "$(dirname "$MEDCLAIM_LOG")"

"$MEDCLAIM" settle "${files[@]}" --rules "$MEDCLAIM_RULES" --ledger "$MEDCLAIM_LEDGER" \
    --quiet --log-file "$MEDCLAIM_LOG" --wait "$MEDCLAIM_WAIT"
status=$?

last_run() { ls -1d "$MEDCLAIM_LEDGER"/runs/run-* 2>/dev/null | tail -n 1; }

case $status in
    0) ;;                                                       # every row settled
    1) echo "medclaim-cron: $month settled; some rows were rejected — see $(last_run)/rejects.csv" >&2 ;;
    5) status=0 ;;                                              # nothing new: already settled
    6) echo "medclaim-cron: ledger $MEDCLAIM_LEDGER still locked by another run after ${MEDCLAIM_WAIT}s; $month not settled" >&2 ;;
    *) echo "medclaim-cron: settling $month failed with status $status — see $MEDCLAIM_LOG" >&2 ;;
esac

if [ "$MEDCLAIM_VERIFY" = 1 ] && { [ $status -eq 0 ] || [ $status -eq 1 ]; }; then
    if ! "$MEDCLAIM" ledger verify --ledger "$MEDCLAIM_LEDGER" --quiet; then
        echo "medclaim-cron: ledger $MEDCLAIM_LEDGER does not verify after settling $month" >&2
        status=9
    fi
fi
exit $status

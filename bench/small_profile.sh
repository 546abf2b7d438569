#!/usr/bin/env bash
# Where the small-files time goes: a demo whose secondary is stopped while
# N × 4 KiB blobs are created, restarted, and timed until all are verified,
# with the machine's CPU time over that span (from /proc/stat) and, on
# request, a profile of it.
#
#   bench/small_profile.sh [N]     (default 30000)
#
# PERF=1: `perf record -a -g` for PERF_SECONDS (default 8) from the restart,
# into $OUT/perf.data. TRACE=1: `perf trace -s` of the secondary's daemon for
# 5 s, into $OUT/trace.txt. OUT: where the demo and outputs go (default
# /tmp/georep-small-profile; the demo is left up for inspection, and purged
# by the next run). Waits 40 s after purging an earlier demo: ext4 without a
# journal scans recently freed inodes when it creates files, which would
# slow the run measured.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-30000}
GEOREP=${GEOREP:-$PWD/build/georep}
OUT=${OUT:-/tmp/georep-small-profile}
DIR=$OUT/demo
mkdir -p "$OUT"
if [[ -e $DIR ]]; then
  "$GEOREP" demo down --dir "$DIR" --purge >/dev/null 2>&1 || true
  sync; sleep "${SETTLE:-40}"
fi
export GEOREP_VERIFICATION_INTERVAL_SECONDS=31536000  # no scrub during the run
"$GEOREP" demo up --dir "$DIR" --seed 0 >/dev/null
topo() { python3 -c "import json; t=json.load(open('$DIR/topology.json')); print($1)"; }
TRACKING=$(topo "t['sites'][1]['tracking_db']")
KINDS=$(psql "$TRACKING" -XAtc "SELECT string_agg(tablename, ' ') FROM pg_tables WHERE schemaname = 'georep' AND tablename LIKE '%\_registry'")
before=$(psql "$TRACKING" -XAtc "SELECT 0$(for k in $KINDS; do printf ' + (SELECT count(*) FROM georep.%s WHERE state = 2 AND verification_state = 2)' "$k"; done)")
pid=$(topo "t['sites'][1]['pid']")
kill -TERM "$pid"
while [[ -e /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; do sleep 0.05; done
"$GEOREP" sample seed --count "$N" --size 4096 --config "$DIR/primary/georep.toml" >/dev/null
sync
read -r _ u0 n0 s0 _ w0 q0 sq0 _ < /proc/stat
t0=$(date +%s.%N)
"$GEOREP" demo up --dir "$DIR" --seed 0 >/dev/null
if [[ ${PERF:-0} == 1 ]]; then
  perf record -a -g -o "$OUT/perf.data" -- sleep "${PERF_SECONDS:-8}" >/dev/null 2>&1 &
fi
if [[ ${TRACE:-0} == 1 ]]; then
  timeout 10 perf trace -s -p "$(topo "t['sites'][1]['pid']")" -o "$OUT/trace.txt" -- sleep 5 >/dev/null 2>&1 &
fi
bench/wait_verified.py "$TRACKING" $((before + N))
t1=$(date +%s.%N)
read -r _ u1 n1 s1 _ w1 q1 sq1 _ < /proc/stat
wait
python3 -c "
hz = 100
busy = (($u1+$n1+$s1+$q1+$sq1) - ($u0+$n0+$s0+$q0+$sq0)) / hz
print(f'$N items in {$t1-$t0:.1f} s: {$N/($t1-$t0):,.0f} items/s; CPU {busy:.1f} s busy '
      f'({busy*1e6/$N:.0f} us/item; user {($u1-$u0)/hz:.1f} s, system {($s1-$s0)/hz:.1f} s), '
      f'iowait {($w1-$w0)/hz:.1f} s')"

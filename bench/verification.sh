#!/usr/bin/env bash
# Secondary re-verification rate beside `openssl dgst -sha256` over the same
# files, in the same run. Usage: bench/verification.sh [COUNT] [SIZE_BYTES]
# (default 256 files of 8 MiB = 2 GiB). Both read from the page cache when
# the files fit in memory: the figure is hashing and bookkeeping, not disk.
set -euo pipefail
COUNT=${1:-256}
SIZE=${2:-8388608}
GEOREP=${GEOREP:-$(dirname "$0")/../build/georep}
DIR=$(mktemp -d /tmp/georep-bench-XXXXXX)
chmod 755 "$DIR"
trap '"$GEOREP" demo down --dir "$DIR/demo" --purge >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT

export GEOREP_VERIFICATION_INTERVAL_SECONDS=31536000  # no scrub during the run
"$GEOREP" demo up --dir "$DIR/demo" --seed 0 >/dev/null
PRIMARY_CONFIG="$DIR/demo/primary/georep.toml"
SECONDARY_CONFIG="$DIR/demo/secondary-1/georep.toml"
"$GEOREP" sample seed --count "$COUNT" --size "$SIZE" --config "$PRIMARY_CONFIG" >/dev/null
TRACKING=$(python3 -c "import json,sys; t=json.load(open('$DIR/demo/topology.json')); print(t['sites'][1]['tracking_db'])")
STORAGE=$(python3 -c "import json,sys; t=json.load(open('$DIR/demo/topology.json')); print(t['sites'][1]['storage_root'])")
KINDS=$(psql "$TRACKING" -Atc "select string_agg(replace(tablename, '_registry', ''), ' ') from pg_tables where schemaname = 'georep' and tablename like '%\_registry'")
union() { for k in $KINDS; do echo "select $1 from georep.${k}_registry union all"; done; echo "select 0 where false"; }
count() { psql "$TRACKING" -Atc "select coalesce(sum(n),0) from ($(union "count(*) filter (where $1) as n")) x"; }

until [[ $(count "state = 2 and verification_state = 2") -eq $COUNT ]]; do sleep 0.5; done

FILES=$(find "$STORAGE" -type f -not -path '*/.georep-tmp/*')
BYTES=$((COUNT * SIZE))
cat $FILES > /dev/null  # warm the cache for both
t0=$(date +%s.%N)
echo "$FILES" | xargs openssl dgst -sha256 > /dev/null
t1=$(date +%s.%N)
for k in $KINDS; do "$GEOREP" reverify "$k" --all --config "$SECONDARY_CONFIG" >/dev/null; done
until [[ $(count "state = 2 and verification_state = 2 and verification_worker is null") -eq $COUNT ]]; do sleep 0.05; done
t2=$(date +%s.%N)

python3 - "$t0" "$t1" "$t2" "$BYTES" "$COUNT" <<'PY'
import sys
t0, t1, t2, size, n = map(float, sys.argv[1:])
o, g = t1 - t0, t2 - t1
mb = size / 1e6
print(f"| verification of {int(n)} files, {mb:.0f} MB | seconds | MB/s | files/s |")
print(f"|---|---|---|---|")
print(f"| openssl dgst -sha256 (one process) | {o:.2f} | {mb/o:.0f} | {n/o:.0f} |")
print(f"| georep reverify --all (one verifier, verification_max_capacity 10) | {g:.2f} | {mb/g:.0f} | {n/g:.0f} |")
print(f"| ratio georep / openssl (throughput) | | {o/g:.2f} | |")
PY

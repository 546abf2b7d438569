#!/usr/bin/env bash
# Georep holding a million items: a secondary whose registry has N synced
# and verified uploads (each a small file on both sites, its row in the
# primary's model and checksum tables, its registry row on the secondary),
# made directly rather than replicated one by one, since how they got there
# is not what is measured (the small-files row measures that). Then:
#   - restart to first copy: the secondary's daemon stopped, one upload
#     created, time from `demo up` to that copy verified;
#   - GET /api/v1/status on each site: p50 and p99 of 100 requests;
#   - scrub: one copy corrupted, every copy made due for re-verification
#     (verified_at moved back two years), time until that copy is repaired
#     and verified again, and until every copy has been re-read; meanwhile
#     uploads at ~50/s, timed commit to verified copy (does the scrub
#     starve sync?);
#   - each daemon's peak RSS (VmHWM) over all of it.
#
#   bench/scale.sh [--quick] [--rows N]
#
# KEEP=1 leaves the demo running and its folder in place.
# Prints table rows ("| scale, … |"); bench/run.sh adds them (scenario
# "scale"). GEOREP=path runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000000
while (($#)); do
  case "$1" in
    --quick) N=20000 ;;
    --rows) N=$2; shift ;;
    *) echo "bench/scale.sh: unknown argument $1 (see the header of this file)" >&2; exit 2 ;;
  esac
  shift
done
GEOREP=${GEOREP:-$PWD/build/georep}
export GEOREP
DIR=$(mktemp -d /tmp/georep-scale-XXXXXX)
chmod 755 "$DIR"
cleanup() {
  [[ -n ${KEEP:-} ]] && { echo "scale: kept $DIR" >&2; return; }
  "$GEOREP" demo down --dir "$DIR/demo" --purge >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
. bench/lib.sh
demo_up
SCONF=$(topo "t['sites'][1]['config']")
SSTORE=$(topo "t['sites'][1]['storage_root']")
STANDBY=$(topo "t['sites'][1]['main_db']")
SURL=$(topo "t['sites'][1]['url']")
PPID_=$(topo "t['sites'][0]['pid']")
NICE=$(python3 -c "print(f'{$N:,}')")

# -- N items, made directly --------------------------------------------------
stop_secondary
FIRST=$(($(psql "$MAINDB" -Atc "select coalesce(max(id), 0) from sample.uploads") + 1))
LAST=$((FIRST + N - 1))
# A file per item on each site: "<id>\n" at upload/<id mod 256 in hex>/<id>,
# the sample's own layout.
write_files() {
  python3 - "$1" "$FIRST" "$LAST" <<'PY'
import os, sys
root, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(256):
    os.makedirs(f"{root}/upload/{d:02x}", exist_ok=True)
for i in range(first, last + 1):
    fd = os.open(f"{root}/upload/{i % 256:02x}/{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"%d\n" % i)
    os.close(fd)
PY
}
t0=$(now)
write_files "$PSTORE" & w1=$!
write_files "$SSTORE" & w2=$!
wait $w1 $w2
# The model rows without their per-row publish triggers (no N events: the
# copies already exist), then their checksums as the primary's checksummer
# records them.
psql "$MAINDB" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<SQL
BEGIN;
ALTER TABLE sample.uploads DISABLE TRIGGER USER;
INSERT INTO sample.uploads (id, file_path, size, sha256)
  SELECT g, 'upload/' || lpad(to_hex(g % 256), 2, '0') || '/' || g, length(g::text) + 1,
         encode(sha256(convert_to(g::text || E'\n', 'UTF8')), 'hex')
  FROM generate_series($FIRST, $LAST) g;
ALTER TABLE sample.uploads ENABLE TRIGGER USER;
INSERT INTO georep.upload_states (model_id, state, checksum, started_at, verified_at)
  SELECT id, 2, sha256, now(), now() FROM sample.uploads WHERE id BETWEEN $FIRST AND $LAST;
SELECT setval(pg_get_serial_sequence('sample.uploads', 'id'), $LAST);
COMMIT;
ANALYZE sample.uploads; ANALYZE georep.upload_states;
SQL
bench/wait_sql.py "$STANDBY" "select exists (select from georep.upload_states where model_id = $LAST)"
psql "$TRACKING" -XAtq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO georep.upload_registry (model_id, state, started_at, last_synced_at, local_path,
    file_size, checksum, verification_state, verified_at)
  SELECT g, 2, now(), now(), '$SSTORE/upload/' || lpad(to_hex(g % 256), 2, '0') || '/' || g,
         length(g::text) + 1, encode(sha256(convert_to(g::text || E'\n', 'UTF8')), 'hex'), 2, now()
  FROM generate_series($FIRST, $LAST) g;
VACUUM ANALYZE georep.upload_registry;
SQL
echo "scale: $NICE items made in $(python3 -c "print(f'{$(now) - $t0:.0f}')") s" >&2

# -- restart to first copy ---------------------------------------------------
# Timed from `demo up` (which starts the stopped daemon) to the copy's
# verified_at, so the wait's own start-up is not counted.
before=$(verified)
"$GEOREP" sample seed --count 1 --size 1024 --config "$PCONF" >/dev/null
NEW=$(psql "$MAINDB" -Atc "select max(id) from sample.uploads")
t0=$(now); "$GEOREP" demo up --dir "$DIR/demo" --seed 0 >/dev/null; wait_verified $((before + 1))
t1=$(psql "$TRACKING" -Atc "select extract(epoch from verified_at) from georep.upload_registry where model_id = $NEW")
SPID=$(topo "t['sites'][1]['pid']")
row_restart=$(python3 -c "print(f'| scale, {$before:,} copies on the secondary: daemon restart (\`demo up\`) to the first new copy verified | {$t1 - $t0:.2f} s | — | — |')")

# -- status ----------------------------------------------------------------
status_times() {
  local i
  # A daemon in service: each HTTP thread has opened its database
  # connections (a cold thread's first request opens them, ~100 ms here).
  for i in $(seq 50); do curl -s -o /dev/null "$1/api/v1/status"; done
  for i in $(seq 100); do curl -s -o /dev/null -w '%{time_total}\n' "$1/api/v1/status"; done
}
p50p99() {
  python3 -c "
import sys
t = sorted(float(x) * 1000 for x in sys.stdin.read().split())
print(f'p50 {t[len(t) // 2]:.1f} ms, p99 {t[min(len(t) - 1, int(len(t) * 0.99))]:.1f} ms')"
}
st_secondary=$(status_times "$SURL" | p50p99)
st_primary=$(status_times "$PRIMARY_URL" | p50p99)

# -- scrub -------------------------------------------------------------------
BAD=$((FIRST + N / 2))
BAD_FILE=$SSTORE/upload/$(printf '%02x' $((BAD % 256)))/$BAD
printf 'X%.0s' $(seq "$(stat -c %s "$BAD_FILE")") > "$BAD_FILE"
T_DUE=$(psql "$TRACKING" -XAtq -v ON_ERROR_STOP=1 -c "
  UPDATE georep.upload_registry SET verified_at = verified_at - interval '2 years'
  WHERE state = 2 AND verification_state = 2 AND model_id BETWEEN $FIRST AND $LAST" \
  -c "select extract(epoch from now())")
t0=$(now)
head -c 1024 /dev/urandom > "$DIR/during"
before=$(verified)
idlist=$(paced_uploads "$DIR/during" 20 during)
bench/wait_sql.py "$TRACKING" "select verification_state = 2 and verified_at > to_timestamp($T_DUE)
  from georep.upload_registry where model_id = $BAD"
t1=$(now)
bench/wait_sql.py "$TRACKING" "select not exists (select from georep.upload_registry
  where model_id between $FIRST and $LAST and verified_at <= to_timestamp($T_DUE))" 0.5
t2=$(now)
wait_verified $((before + 20))
[[ $(cat "$BAD_FILE") == "$BAD" ]] || { echo "bench: the corrupted copy was not repaired" >&2; exit 1; }
during=$(python3 - "$MAINDB" "$TRACKING" "$idlist" <<'PY'
import subprocess, sys
main, tracking, ids = sys.argv[1:]
q = lambda db, sql: dict(l.split('|') for l in subprocess.run(
    ['psql', db, '-XAtc', sql], check=True, capture_output=True, text=True).stdout.split())
c = q(main, f"select id, extract(epoch from created_at) from sample.uploads where id in ({ids})")
v = q(tracking, f"select model_id, extract(epoch from verified_at) from georep.upload_registry where model_id in ({ids})")
lat = sorted((float(v[k]) - float(c[k])) * 1000 for k in c)
print(f"p50 {lat[len(lat) // 2]:.0f} ms, max {lat[-1]:.0f} ms")
PY
)
row_scrub=$(python3 -c "
n=$N; found=$t1-$t0; full=$t2-$t0
print(f'| scale, scrub of {n:,} due copies: one corrupted copy repaired; every copy re-read | repaired after {found:.1f} s; all re-read in {full:.1f} s ({n/full:,.0f} copies/s); 1 KiB uploads meanwhile: $during | — | — |')")

rss() { awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$1/status"; }
echo "| scale, $NICE items: peak RSS of each daemon | primary $(rss "$PPID_"), secondary $(rss "$SPID") | — | — |"
echo "$row_restart"
echo "| scale, $NICE items: GET /api/v1/status | secondary $st_secondary; primary $st_primary | — | — |"
echo "$row_scrub"

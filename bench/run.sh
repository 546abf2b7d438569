#!/usr/bin/env bash
# `make bench`: Georep against a real demo topology (primary, streaming
# standby, tracking DB, two daemons on loopback), each figure beside a
# baseline measured in the same run on the same data. Writes bench/RESULTS.md.
#
#   bench/run.sh [--quick] [--out FILE] [--small-count N] [--small-size B] [--large-size B]
#                [--latency-count N] [--engine-rows N] [--git-commits N] [--git-repos N]
#                [--git-changed N] [--git-baseline N] [--only LIST]
#
# --quick: small sizes, for CI to prove every scenario still runs (never how
# fast). --out: where the table goes (default bench/RESULTS.md). --only: a
# comma-separated subset of small,latency,large,verify,engine,git,failover,wan,scale,s3,digest (the table
# then holds only those rows; use it with --out). GEOREP=path runs another
# build of the binary. Size flags given after --quick override it.
#
# Git changed defaults to 200 repositories, not 1,000: at about 4 repositories
# a second here, 1,000 would add over three minutes to a run that should stay
# under ten (`--git-changed 1000` measures it).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
OUT=bench/RESULTS.md
ONLY=small,latency,large,verify,engine,git,failover,wan,scale,s3,digest
FAIL_N=10000; FAIL_PROJECTS=34
SMALL_N=100000; SMALL_SIZE=4096; LARGE=$((1 << 30)); LAT_N=50; VERIFY_N=256; VERIFY_SIZE=8388608; ENGINE_N=1000000
GIT_ARGS=(--commits 3000 --repos 10000 --changed 200 --baseline 50)
while (($#)); do
  case "$1" in
    --quick) QUICK=1; FAIL_N=500; FAIL_PROJECTS=5; SMALL_N=2000; LARGE=$((64 << 20)); LAT_N=10; VERIFY_N=16; VERIFY_SIZE=1048576; ENGINE_N=20000
             GIT_ARGS=(--commits 200 --repos 300 --changed 30 --baseline 10) ;;
    --out) OUT=$2; shift ;;
    --small-count) SMALL_N=$2; shift ;;
    --small-size) SMALL_SIZE=$2; shift ;;
    --large-size) LARGE=$2; shift ;;
    --latency-count) LAT_N=$2; shift ;;
    --engine-rows) ENGINE_N=$2; shift ;;
    --git-commits) GIT_ARGS+=(--commits "$2"); shift ;;
    --git-repos) GIT_ARGS+=(--repos "$2"); shift ;;
    --git-changed) GIT_ARGS+=(--changed "$2"); shift ;;
    --git-baseline) GIT_ARGS+=(--baseline "$2"); shift ;;
    --only) ONLY=$2; shift ;;
    *) echo "bench/run.sh: unknown argument $1 (see the header of this file)" >&2; exit 2 ;;
  esac
  shift
done
GEOREP=${GEOREP:-$PWD/build/georep}
export GEOREP
want() { [[ ,$ONLY, == *,$1,* ]]; }
DIR=$(mktemp -d /tmp/georep-bench-XXXXXX)
chmod 755 "$DIR"
NGINX_PID=""; RSYNC_PID=""
cleanup() {
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null || true
  [[ -n $RSYNC_PID ]] && kill "$RSYNC_PID" 2>/dev/null || true
  "$GEOREP" demo down --dir "$DIR/demo" --purge >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
. bench/lib.sh

demo_up
ROWS=()
row() { ROWS+=("$1"); printf '%s\n' "$1"; }

echo "Georep benchmarks ($([[ $QUICK == 1 ]] && echo quick || echo full)), work folder $DIR"

scenario_small() {
# -- many small blobs: Georep vs an rsync daemon on loopback ----------------
# Like rsync, Georep gets the files once they all exist: the secondary's
# daemon is stopped while they are created, and the clock starts when
# `demo up` starts it again (its log cursor then reads every event).
before=$(verified)
stop_secondary
"$GEOREP" sample seed --count "$SMALL_N" --size "$SMALL_SIZE" --config "$PCONF" >/dev/null
t0=$(now); "$GEOREP" demo up --dir "$DIR/demo" --seed 0 >/dev/null; wait_verified $((before + SMALL_N)); t1=$(now)
start_rsync_daemon "$DIR/rsync-dest"
t2=$(now); rsync -a --exclude .georep-tmp "$PSTORE/" "rsync://127.0.0.1:$RSYNC_PORT/dest/"; sync; t3=$(now)
row "$(python3 -c "
g=$t1-$t0; r=$t3-$t2; n=$SMALL_N
print(f'| many small blobs: {n} x $SMALL_SIZE B, until verified | {n/g:,.0f} items/s ({g:.1f} s) | rsync daemon: {n/r:,.0f} items/s ({r:.1f} s) | {r/g:.2f} |')")"
# The same clock is a catch-up after an outage (goal: 100,000 in 15 s).
row "$(python3 -c "print(f'| catch-up after an outage: {$SMALL_N:,} blobs created while the secondary was stopped, restart to all verified | {$t1 - $t0:.1f} s | — | — |')")"
}

scenario_latency() {
# -- latency: commit on primary -> verified copy on secondary ---------------
warm_up
for size in 1024 65536 1048576; do
  head -c "$size" /dev/urandom > "$DIR/blob-$size"
  before=$(verified)
  idlist=$(paced_uploads "$DIR/blob-$size" "$LAT_N" "$size")
  wait_verified $((before + LAT_N))
  psql "$MAINDB" -Atc "select id, extract(epoch from created_at) from sample.uploads where id in ($idlist)" > "$DIR/created"
  psql "$TRACKING" -Atc "select model_id, extract(epoch from verified_at) from georep.upload_registry where model_id in ($idlist)" > "$DIR/verified"
  row "$(python3 - "$DIR/created" "$DIR/verified" "$size" <<'PY'
import sys
c = dict(l.split('|') for l in open(sys.argv[1]).read().split())
v = dict(l.split('|') for l in open(sys.argv[2]).read().split())
lat = sorted((float(v[k]) - float(c[k])) * 1000 for k in c if k in v)
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"| latency, {int(sys.argv[3]) // 1024} KiB blobs at ~50/s: commit to verified copy | p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms (n={len(lat)}) | — | — |")
PY
)"
done
}

scenario_large() {
# -- one large blob: Georep vs curl from nginx ------------------------------
before=$(verified)
"$GEOREP" sample seed --count 1 --size "$LARGE" --config "$PCONF" >/dev/null
t0=$(now); wait_verified $((before + 1)); t1=$(now)
LARGE_REL=$(psql "$MAINDB" -Atc "select file_path from sample.uploads order by id desc limit 1")
start_nginx "$PSTORE"
t2=$(now); curl -s -o "$DIR/curl.out" "http://127.0.0.1:$NGINX_PORT/$LARGE_REL"; sync "$DIR/curl.out"; t3=$(now)
[[ $(stat -c %s "$DIR/curl.out") == "$LARGE" ]] || { echo "bench: curl baseline fetched the wrong size" >&2; exit 1; }
row "$(python3 -c "
g=$t1-$t0; c=$t3-$t2; mb=$LARGE/1e6
print(f'| one large blob: {$LARGE/2**20:.0f} MiB, until verified | {mb/g:,.0f} MB/s ({g:.2f} s) | curl from nginx: {mb/c:,.0f} MB/s ({c:.2f} s) | {c/g:.2f} |')")"
}

scenario_verify() {
# -- verification (its own topology) ---------------------------------------
while IFS= read -r line; do
  case "$line" in
    "| georep reverify"*) G=$(echo "$line" | awk -F'|' '{print $4}' | tr -d ' ') ;;
    "| openssl"*) O=$(echo "$line" | awk -F'|' '{print $4}' | tr -d ' ') ;;
  esac
done < <(bench/verification.sh "$VERIFY_N" "$VERIFY_SIZE")
row "$(python3 -c "print(f'| re-verification: $VERIFY_N x {$VERIFY_SIZE/2**20:.0f} MiB, one verifier reading 10 at once | $G MB/s | openssl dgst -sha256: $O MB/s | {$G/$O:.2f} |')")"
}

scenario_engine() {
# -- backfill and queue: the registry engine alone (bench/engine.cc) ---------
"$PWD/build/bench/georep-bench-engine" --primary "$MAINDB" --standby "$(topo "t['sites'][1]['main_db']")" \
  --tracking "$TRACKING" --rows "$ENGINE_N" --single $((ENGINE_N / 50)) > "$DIR/engine-rows"
while IFS= read -r line; do
  [[ $line == "| backfill"* || $line == "| queue"* || $line == "| prune"* ]] && row "$line"
done < "$DIR/engine-rows"
}

scenario_failover() {
# -- planned failover: `georep promote` of the secondary, last (it swaps the
# roles). RTO: from the primary's maintenance mode to the first write the
# new primary accepts; the floor is pg_promote of the same standby, timed
# inside the same command.
"$GEOREP" sample seed --count "$FAIL_N" --projects "$FAIL_PROJECTS" --config "$PCONF" >/dev/null
total=$(psql "$MAINDB" -Atc "select $(for k in $KINDS; do echo "(select count(*) from georep.${k}_states) +"; done) 0")
repos=$(psql "$MAINDB" -Atc "select $(for k in $KINDS; do [[ $k == *repository ]] && echo "(select count(*) from georep.${k}_states) +"; done) 0")
SCONF=$(topo "t['sites'][1]['config']")
# Caught up first (nothing would be lost), so the RTO is the switch alone.
for _ in $(seq 3000); do "$GEOREP" dataloss --config "$SCONF" >/dev/null && break; sleep 0.2; done
"$GEOREP" dataloss --config "$SCONF" > "$DIR/dataloss.txt" || {
  echo "bench: the secondary did not catch up; georep dataloss says:" >&2; tail -20 "$DIR/dataloss.txt" >&2; exit 1; }
# Three applications commit to the primary's PostgreSQL directly, under a
# role of their own, through the promotion; every commit acknowledged must
# be on the new primary (the fence stops them before the final position).
psql "$MAINDB" -Xq -v ON_ERROR_STOP=1 -c "CREATE ROLE bench_app LOGIN" \
  -c "CREATE TABLE public.bench_orders (id bigserial PRIMARY KEY, writer int NOT NULL, seq int NOT NULL, UNIQUE (writer, seq))" \
  -c "GRANT ALL ON public.bench_orders, public.bench_orders_id_seq TO bench_app"
rm -f "$DIR/writers-stop" "$DIR"/acked-*
WRITERS=()
for w in 1 2 3; do
  bench/sql_writer.py "$MAINDB user=bench_app application_name=bench_shop" public.bench_orders \
    "$w" "$DIR/acked-$w" "$DIR/writers-stop" &
  WRITERS+=($!)
done
for _ in $(seq 600); do
  (( $(cat "$DIR"/acked-* 2>/dev/null | wc -l) >= 300 )) && break; sleep 0.1
done
"$GEOREP" promote --config "$SCONF" --json --timeout 600 2>/dev/null > "$DIR/promote.json"
touch "$DIR/writers-stop"; wait "${WRITERS[@]}"
SMAINDB=$(topo "t['sites'][1]['main_db']")
psql "$SMAINDB" -XAtF' ' -c "SELECT writer, seq FROM public.bench_orders" > "$DIR/orders-after"
read -r ACKED MISSING < <(python3 -c "
there = set(open('$DIR/orders-after').read().split('\n'))
acked = missing = 0
for w in (1, 2, 3):
    for line in open(f'$DIR/acked-{w}'):
        acked += 1
        missing += f'{w} {line.strip()}' not in there
print(acked, missing)")
(( MISSING == 0 )) || { echo "bench: $MISSING of $ACKED commits acknowledged by the old primary are not on the new one" >&2; exit 1; }
SURL=$(topo "t['sites'][1]['url']")
SAUTH="Authorization: Bearer $(tr -d '[:space:]' < "$(dirname "$SCONF")/admin-token")"
t0=$(now); code=$(curl -s -o /dev/null -w '%{http_code}' -H "$SAUTH" -X POST --data-binary x "$SURL/api/v1/sample/upload"); t1=$(now)
[[ $code == 201 ]] || { echo "bench: the new primary refused a write (HTTP $code)" >&2; exit 1; }
row "$(python3 -c "
import json; j=json.load(open('$DIR/promote.json'))
rto=j['rto_seconds']; floor=j['promote_database_seconds']
print(f'| planned failover of a demo holding {$total:,} items ({$repos:,} of them repositories), 3 applications committing to PostgreSQL directly, RTO to the first accepted write | {rto:.2f} s (RPO: {$MISSING} of {$ACKED:,} acknowledged commits missing) | pg_promote of the same standby: {floor:.2f} s | {floor/rto:.2f} |')")"
}

scenario_git() {
# -- Git repositories (bench/git.sh, same topology) -------------------------
bench/git.sh "$DIR/demo" "${GIT_ARGS[@]}" > "$DIR/git-rows"
while IFS= read -r line; do
  [[ $line == "| git "* ]] && row "$line"
done < "$DIR/git-rows"
}

scenario_wan() {
# -- the same transfers over a 50 ms link (bench/wan.sh, its own demo) -------
bench/wan.sh $([[ $QUICK == 1 ]] && echo --quick) > "$DIR/wan-rows"
while IFS= read -r line; do
  [[ $line == "| "*" link, "* ]] && row "$line"
done < "$DIR/wan-rows"
}

scenario_scale() {
# -- a million items (bench/scale.sh, its own demo) ---------------------------
bench/scale.sh $([[ $QUICK == 1 ]] && echo --quick) > "$DIR/scale-rows"
while IFS= read -r line; do
  [[ $line == "| scale, "* ]] && row "$line"
done < "$DIR/scale-rows"
}

scenario_s3() {
# -- blobs in buckets: file -> bucket, bucket -> bucket (bench/s3.sh, its own demo)
bench/s3.sh $([[ $QUICK == 1 ]] && echo --quick) > "$DIR/s3-rows"
while IFS= read -r line; do
  [[ $line == "| object storage, "* ]] && row "$line"
done < "$DIR/s3-rows"
}

scenario_digest() {
# -- an application's own SHA-256 taken as the primary's checksum (bench/app_checksum.sh, its own demo)
row "$(bench/app_checksum.sh $([[ $QUICK == 1 ]] && echo 50 262144 || echo 400 4194304))"
}

for s in small latency large verify engine git failover wan scale s3 digest; do
  if want "$s"; then
    t_start=$(now); "scenario_$s"
    python3 -c "print(f'  (scenario $s took {$(now) - $t_start:.0f} s)')" >&2
  fi
done

# Hand-written analysis below the table (sections from the first "## ") is kept.
NOTES=""
[[ -f $OUT ]] && NOTES=$(sed -n '/^## /,$p' "$OUT")
{
  echo "# Benchmark results"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $([[ $QUICK == 1 ]] && echo '--quick' || echo 'full run'); everything on one machine over loopback."
  echo "Ratio = Georep throughput / baseline throughput (above 1: Georep faster). Produced by \`make bench\` (bench/run.sh)."
  echo
  echo "| scenario | Georep | baseline (same run, same data) | ratio |"
  echo "|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  if [[ -n $NOTES ]]; then printf '\n%s\n' "$NOTES"; fi
} > "$OUT.new"
mv "$OUT.new" "$OUT"
echo "wrote $OUT"

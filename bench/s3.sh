#!/usr/bin/env bash
# Blobs in S3-compatible buckets (s3rver from tests/s3, on loopback), two
# rows:
# - file -> bucket: blobs created on the primary (files) while the secondary
#   is stopped, then the clock from its restart until every copy is verified
#   in its bucket, beside `s3cmd sync` of the primary's storage folder into
#   another bucket of the same server (the same bytes, the same store);
# - bucket -> bucket: the primary's blobs in a bucket of a second server,
#   the same clock, beside `rclone sync` from the primary's bucket into
#   another bucket of the secondary's server.
#
#   bench/s3.sh [--quick] [--count N] [--size B]
#
# Prints the table rows ("| object storage, … |"); bench/run.sh adds them to
# its table (scenario "s3"). GEOREP=path runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=10000; SIZE=65536
while (($#)); do
  case "$1" in
    --quick) N=300 ;;
    --count) N=$2; shift ;;
    --size) SIZE=$2; shift ;;
    *) echo "bench/s3.sh: unknown argument $1 (see the header of this file)" >&2; exit 2 ;;
  esac
  shift
done
S3RVER=tests/s3/server.js
[[ -d tests/s3/node_modules/s3rver ]] || { echo "bench/s3.sh: tests/s3/node_modules/s3rver is missing (scripts/install-deps installs it)" >&2; exit 1; }
command -v rclone >/dev/null || { echo "bench/s3.sh: rclone is missing (scripts/install-bench-deps installs it)" >&2; exit 1; }
GEOREP=${GEOREP:-$PWD/build/georep}
export GEOREP
DIR=$(mktemp -d /tmp/georep-s3-XXXXXX)
chmod 755 "$DIR"
NGINX_PID=""; RSYNC_PID=""; S3_PID=""; P3_PID=""
cleanup() {
  [[ -n $S3_PID ]] && kill "$S3_PID" 2>/dev/null || true
  [[ -n $P3_PID ]] && kill "$P3_PID" 2>/dev/null || true
  "$GEOREP" demo down --dir "$DIR/demo" --purge >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
. bench/lib.sh

# The secondary's server (S3_PORT) and the primary's (P3_PORT).
S3_PORT=$(free_port)
node "$S3RVER" "$DIR/s3" "$S3_PORT" georep > "$DIR/s3rver.log" 2>&1 &
S3_PID=$!
P3_PORT=$(free_port)
node "$S3RVER" "$DIR/s3p" "$P3_PORT" primary > "$DIR/s3rver-primary.log" 2>&1 &
P3_PID=$!
wait_port "$S3_PORT"
wait_port "$P3_PORT"
s3() {
  s3cmd --config=/dev/null --access_key=S3RVER --secret_key=S3RVER --host="127.0.0.1:$S3_PORT" \
    --host-bucket="127.0.0.1:$S3_PORT" --no-ssl --region=us-east-1 "$@"
}
s3 mb s3://baseline >/dev/null
s3 mb s3://baseline2 >/dev/null
# rclone's remotes: S (the secondary's server) and P (the primary's).
for r in S P; do
  port=$S3_PORT; [[ $r == P ]] && port=$P3_PORT
  export RCLONE_CONFIG_${r}_TYPE=s3 RCLONE_CONFIG_${r}_PROVIDER=Other \
    RCLONE_CONFIG_${r}_ACCESS_KEY_ID=S3RVER RCLONE_CONFIG_${r}_SECRET_ACCESS_KEY=S3RVER \
    RCLONE_CONFIG_${r}_ENDPOINT="http://127.0.0.1:$port" RCLONE_CONFIG_${r}_REGION=us-east-1
done
# Adds kind = "s3" and the rest to the [storage] table of config $1: server
# port $2, bucket $3, prefix $4.
use_bucket() {
  python3 - "$1" "$2" "$3" "$4" "$DIR/s3-secret" <<'PY'
import sys
path, port, bucket, prefix, secret = sys.argv[1:]
text = open(path).read()
extra = (f'kind = "s3"\nendpoint = "http://127.0.0.1:{port}"\nbucket = "{bucket}"\n'
         f'prefix = "{prefix}"\naccess_key = "S3RVER"\nsecret_key_file = "{secret}"\n')
open(path, "w").write(text.replace("[storage]\n", "[storage]\n" + extra, 1))
PY
}

demo_up
stop_secondary
SCONF=$DIR/demo/secondary-1/georep.toml
echo S3RVER > "$DIR/s3-secret"
use_bucket "$SCONF" "$S3_PORT" georep ""
before=$(verified)
"$GEOREP" sample seed --count "$N" --size "$SIZE" --config "$PCONF" >/dev/null
t0=$(now); demo_up; wait_verified $((before + N)); t1=$(now)
objects=$(s3 ls --recursive s3://georep/ | wc -l)
[[ $objects -ge $N ]] || { echo "bench/s3.sh: $objects objects in the bucket, expected $N" >&2; exit 1; }
t2=$(now); s3 sync --quiet --no-check-md5 --exclude '.georep-tmp/*' "$PSTORE/" s3://baseline/ >/dev/null; t3=$(now)
copied=$(s3 ls --recursive s3://baseline/ | wc -l)
[[ $copied -ge $N ]] || { echo "bench/s3.sh: s3cmd copied $copied objects, expected $N" >&2; exit 1; }
python3 -c "
g=$t1-$t0; b=$t3-$t2; n=$N
print(f'| object storage, file -> bucket: {n:,} x {$SIZE//1024} KiB blobs into s3rver, until verified | {n/g:,.0f} items/s ({g:.1f} s) | s3cmd sync into the same server: {n/b:,.0f} items/s ({b:.1f} s) | {b/g:.2f} |')"

# -- bucket -> bucket: the primary's blobs in the other server -----------------
stop_secondary
ppid=$(topo "t['sites'][0]['pid']")
kill -TERM "$ppid"
while [[ -e /proc/$ppid && $(awk '{print $3}' "/proc/$ppid/stat" 2>/dev/null) != Z ]]; do sleep 0.05; done
use_bucket "$PCONF" "$P3_PORT" primary "blobs/"
before=$(verified)
"$GEOREP" sample seed --count "$N" --size "$SIZE" --config "$PCONF" >/dev/null
t0=$(now); demo_up; wait_verified $((before + N)); t1=$(now)
objects=$(s3 ls --recursive s3://georep/ | wc -l)
[[ $objects -ge $((2 * N)) ]] || { echo "bench/s3.sh: $objects objects in the bucket, expected $((2 * N))" >&2; exit 1; }
# (rclone refuses a custom CA bundle over plain HTTP: AWS_CA_BUNDLE is not for
# it; --fast-list: one recursive listing, as S3 is best listed, and the only
# one s3rver answers as rclone expects)
t2=$(now)
env -u AWS_CA_BUNDLE rclone sync --config=/dev/null -q --fast-list P:primary S:baseline2
t3=$(now)
copied=$(s3 ls --recursive s3://baseline2/ | wc -l)
[[ $copied -ge $N ]] || { echo "bench/s3.sh: rclone copied $copied objects, expected $N" >&2; exit 1; }
python3 -c "
g=$t1-$t0; b=$t3-$t2; n=$N
print(f'| object storage, bucket -> bucket: {n:,} x {$SIZE//1024} KiB blobs between two s3rver, until verified | {n/g:,.0f} items/s ({g:.1f} s) | rclone sync between the same servers: {n/b:,.0f} items/s ({b:.1f} s) | {b/g:.2f} |')"

#!/usr/bin/env bash
# A secondary whose copies live in an S3-compatible bucket (s3rver from
# tests/s3, on loopback): blobs created on the primary while the secondary
# is stopped, then the clock from its restart until every copy is verified in
# the bucket, beside `s3cmd sync` of the primary's storage folder into
# another bucket of the same server (the same bytes, the same store).
#
#   bench/s3.sh [--quick] [--count N] [--size B]
#
# Prints one table row ("| object storage, … |"); bench/run.sh adds it to its
# table (scenario "s3"). GEOREP=path runs another build.
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
S3RVER=tests/s3/node_modules/s3rver/bin/s3rver.js
[[ -f $S3RVER ]] || { echo "bench/s3.sh: $S3RVER is missing (scripts/install-deps installs it)" >&2; exit 1; }
GEOREP=${GEOREP:-$PWD/build/georep}
export GEOREP
DIR=$(mktemp -d /tmp/georep-s3-XXXXXX)
chmod 755 "$DIR"
NGINX_PID=""; RSYNC_PID=""; S3_PID=""
cleanup() {
  [[ -n $S3_PID ]] && kill "$S3_PID" 2>/dev/null || true
  "$GEOREP" demo down --dir "$DIR/demo" --purge >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
. bench/lib.sh

S3_PORT=$(free_port)
node "$S3RVER" -d "$DIR/s3" -a 127.0.0.1 -p "$S3_PORT" --silent \
  --configure-bucket georep --configure-bucket baseline > "$DIR/s3rver.log" 2>&1 &
S3_PID=$!
wait_port "$S3_PORT"
s3() {
  s3cmd --config=/dev/null --access_key=S3RVER --secret_key=S3RVER --host="127.0.0.1:$S3_PORT" \
    --host-bucket="127.0.0.1:$S3_PORT" --no-ssl --region=us-east-1 "$@"
}

demo_up
stop_secondary
SCONF=$DIR/demo/secondary-1/georep.toml
echo S3RVER > "$DIR/s3-secret"
python3 - "$SCONF" "$S3_PORT" "$DIR/s3-secret" <<'PY'
import sys
path, port, secret = sys.argv[1:]
text = open(path).read()
extra = (f'kind = "s3"\nendpoint = "http://127.0.0.1:{port}"\nbucket = "georep"\n'
         f'access_key = "S3RVER"\nsecret_key_file = "{secret}"\n')
open(path, "w").write(text.replace("[storage]\n", "[storage]\n" + extra, 1))
PY
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

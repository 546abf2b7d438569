#!/usr/bin/env bash
# New blobs of an application that keeps their SHA-256 (a declared
# checksum_column, as Redmine's attachments.digest): commit to verified on
# the secondary, with the application's digest taken by the primary, beside
# the same number of blobs whose digest is empty (the primary hashes each),
# in the same run on the same topology. Usage:
#   bench/app_checksum.sh [COUNT] [SIZE_BYTES]     (default 400 files of 4 MiB)
# Prints one table row: digest taken | hashed by the primary | ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-400}
SIZE=${2:-4194304}
GEOREP=${GEOREP:-$PWD/build/georep}
DIR=$(mktemp -d /tmp/georep-bench-XXXXXX)
chmod 755 "$DIR"
trap '"$GEOREP" demo down --dir "$DIR/demo" --purge >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
. bench/lib.sh

demo_up
SCONF=$(topo "t['sites'][1]['config']")
psql "$MAINDB" -qc "CREATE TABLE public.bench_attachments (id serial PRIMARY KEY,
  disk_directory varchar, disk_filename varchar NOT NULL, digest varchar(64) NOT NULL DEFAULT '')"
for conf in "$PCONF" "$SCONF"; do
  cat >> "$conf" <<'TOML'

[[replicable]]
name = "bench_attachment"
table = "public.bench_attachments"
path_template = "[{disk_directory}/]{disk_filename}"
checksum_column = "digest"
TOML
done
for i in 0 1; do
  pid=$(topo "t['sites'][$i]['pid']")
  kill -TERM "$pid"
  while [[ -e /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; do sleep 0.05; done
done
demo_up

# COUNT files of SIZE random bytes in $PSTORE/$1, and their rows in one
# transaction (digests kept only when $2 is "keep"); prints the commit time.
batch() {
  python3 - "$PSTORE" "$1" "$COUNT" "$SIZE" "$2" "$MAINDB" <<'PY'
import hashlib, os, subprocess, sys, time
root, folder, n, size, keep, conninfo = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "keep", sys.argv[6]
os.makedirs(os.path.join(root, folder), exist_ok=True)
rows = []
for i in range(n):
    data = os.urandom(size)
    name = f"{i:06d}.bin"
    with open(os.path.join(root, folder, name), "wb") as f:
        f.write(data)
    rows.append(f"('{folder}', '{name}', '{hashlib.sha256(data).hexdigest() if keep else ''}')")
os.sync()  # the files on disk before the clock starts: no write-back during the run
sql = "INSERT INTO public.bench_attachments (disk_directory, disk_filename, digest) VALUES " + ", ".join(rows)
subprocess.run(["psql", conninfo, "-qc", sql], check=True)
print(time.time())
PY
}
# The page cache holds what was just written; both runs read from it alike.
# Each starts with nothing left to write back (sync): the second run would
# otherwise share the disk with the first run's copies.
# What the primary's daemon read (rchar: files it hashed and served, and
# its sockets) tells what the digest saved.
PPID_GEOREP=$(topo "t['sites'][0]['pid']")
rchar() { awk '/^rchar/ {print $2}' "/proc/$PPID_GEOREP/io"; }
r0=$(rchar)
t0=$(batch hashed empty); bench/wait_verified.py "$TRACKING" "$COUNT" --types bench_attachment; t1=$(now)
r1=$(rchar)
sync
r2=$(rchar)
t2=$(batch taken keep); bench/wait_verified.py "$TRACKING" $((2 * COUNT)) --types bench_attachment; t3=$(now)
r3=$(rchar)
taken=$(psql "$MAINDB" -Atc "select count(*) from georep.bench_attachment_states s join
  public.bench_attachments a on a.id = s.model_id where a.digest <> '' and s.checksum = a.digest")
[[ $taken == "$COUNT" ]] || { echo "bench: $taken of $COUNT digests are the primary's checksums" >&2; exit 1; }
python3 -c "
h=$t1-$t0; d=$t3-$t2; n=$COUNT; mib=$SIZE/2**20
hr=($r1-$r0)/1e6; dr=($r3-$r2)/1e6
print(f'| new blobs whose application keeps their SHA-256: {n} x {mib:g} MiB, commit to verified | digest taken: {n/d:,.0f} items/s ({d:.2f} s; the primary read {dr:,.0f} MB) | digest empty, hashed by the primary: {n/h:,.0f} items/s ({h:.2f} s; it read {hr:,.0f} MB) | {h/d:.2f} |')"

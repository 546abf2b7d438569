#!/usr/bin/env bash
# Where the time goes from commit to verified copy, stage by stage.
#
#   bench/latency_stages.sh [COUNT [SIZE]]     (defaults: 50 uploads of 1024 B)
#
# Starts a demo (primary, streaming standby, secondary), warms it up with 20
# uploads, uploads COUNT blobs of SIZE bytes 20 ms apart, waits until all are
# verified on the secondary and prints the p50 / p90 / p99 of each stage,
# read from the rows' own timestamps: the upload's transaction (its event
# has the same time), the primary's checksum, the registry row's creation
# (the log cursor), its claim, its sync and its verification.
# GEOREP=path runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}
SIZE=${2:-1024}
GEOREP=${GEOREP:-$PWD/build/georep}
DIR=$(mktemp -d /tmp/georep-stages-XXXXXX)
chmod 755 "$DIR"
trap '"$GEOREP" demo down --dir "$DIR/demo" --purge >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
. bench/lib.sh

demo_up
warm_up
head -c "$SIZE" /dev/urandom >"$DIR/blob"
before=$(verified)
ids=$(paced_uploads "$DIR/blob" "$N" stages)
wait_verified $((before + N))
epoch() { echo "coalesce(extract(epoch from $1), 'NaN')"; }
psql "$MAINDB" -AtF' ' -c "select u.id, $(epoch u.created_at), $(epoch s.verified_at)
  from sample.uploads u left join georep.upload_states s on s.model_id = u.id
  where u.id in ($ids)" >"$DIR/primary"
psql "$TRACKING" -AtF' ' -c "select model_id, $(epoch created_at), $(epoch started_at),
  $(epoch last_synced_at), $(epoch verified_at)
  from georep.upload_registry where model_id in ($ids)" >"$DIR/secondary"
python3 - "$DIR/primary" "$DIR/secondary" "$N" "$SIZE" <<'PY'
import sys
p = {r[0]: list(map(float, r[1:])) for r in (l.split() for l in open(sys.argv[1]))}
s = {r[0]: list(map(float, r[1:])) for r in (l.split() for l in open(sys.argv[2]))}
stages = {
    "commit -> primary checksum": lambda a, b: a[1] - a[0],
    "commit -> registry row (log cursor)": lambda a, b: b[0] - a[0],
    "registry row -> claimed": lambda a, b: b[1] - b[0],
    "claimed -> synced": lambda a, b: b[2] - b[1],
    "synced -> verified": lambda a, b: b[3] - b[2],
    "commit -> verified (total)": lambda a, b: b[3] - a[0],
}
print(f"{sys.argv[3]} uploads of {sys.argv[4]} B, 20 ms apart; ms")
print(f"{'stage':40} {'p50':>7} {'p90':>7} {'p99':>7}")
for name, f in stages.items():
    v = sorted(f(p[k], s[k]) * 1000 for k in p if k in s)
    q = lambda x: v[min(len(v) - 1, int(x * len(v)))]
    print(f"{name:40} {q(0.5):7.0f} {q(0.9):7.0f} {q(0.99):7.0f}")
PY

#!/usr/bin/env bash
# Georep against rsync, curl and git over a long link: every request from the
# secondary to the primary, and every baseline's, goes through
# bench/delay_proxy.py (25 ms each way by default, a 4 MiB window; this
# kernel has no netem). Streaming replication stays on loopback: the rows
# time the transfers, which the link slows, not the database.
#
#   bench/wan.sh [--quick] [--delay-ms MS] [--small-count N] [--large-size B]
#                [--git-repos N] [--git-changed N] [--git-baseline N]
#
# Prints one table row per scenario ("| 50 ms link, … |"); bench/run.sh adds
# them to its table (scenario "wan"). GEOREP=path runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
DELAY_MS=25
SMALL_N=20000; SMALL_SIZE=4096; LARGE=$((256 << 20))
GIT_ARGS=(--commits 500 --repos 300 --changed 100 --baseline 20)
while (($#)); do
  case "$1" in
    --quick) SMALL_N=1000; LARGE=$((32 << 20)); GIT_ARGS=(--commits 100 --repos 30 --changed 10 --baseline 5) ;;
    --delay-ms) DELAY_MS=$2; shift ;;
    --small-count) SMALL_N=$2; shift ;;
    --large-size) LARGE=$2; shift ;;
    --git-repos) GIT_ARGS+=(--repos "$2"); shift ;;
    --git-changed) GIT_ARGS+=(--changed "$2"); shift ;;
    --git-baseline) GIT_ARGS+=(--baseline "$2"); shift ;;
    *) echo "bench/wan.sh: unknown argument $1 (see the header of this file)" >&2; exit 2 ;;
  esac
  shift
done
GEOREP=${GEOREP:-$PWD/build/georep}
export GEOREP
DIR=$(mktemp -d /tmp/georep-wan-XXXXXX)
chmod 755 "$DIR"
NGINX_PID=""; RSYNC_PID=""; PROXY_PIDS=()
cleanup() {
  for p in $NGINX_PID $RSYNC_PID "${PROXY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  "$GEOREP" demo down --dir "$DIR/demo" --purge >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
. bench/lib.sh
LINK="$((2 * ${DELAY_MS%.*})) ms link"

# A delaying proxy in front of 127.0.0.1:$1; prints its port.
proxy_to() {
  local port; port=$(free_port)
  bench/delay_proxy.py "$port" "127.0.0.1:$1" --delay-ms "$DELAY_MS" > "$DIR/proxy-$port.log" 2>&1 &
  PROXY_PIDS+=($!)
  wait_port "$port" >&2
  echo "$port"
}

demo_up
PRIMARY_PORT=${PRIMARY_URL##*:}
PRIMARY_PORT=${PRIMARY_PORT%%/*}
# Like rsync, Georep gets the files once they all exist: the secondary is
# stopped while they are created, and restarted with the primary's internal
# URL (the one secondaries use) pointing at the link.
stop_secondary
LINK_PORT=$(proxy_to "$PRIMARY_PORT")
psql "$MAINDB" -Atqc "update georep.geo_nodes set internal_url = 'http://127.0.0.1:$LINK_PORT' where is_primary"
before=$(verified)
"$GEOREP" sample seed --count "$SMALL_N" --size "$SMALL_SIZE" --config "$PCONF" >/dev/null
t0=$(now); demo_up; wait_verified $((before + SMALL_N)); t1=$(now)
start_rsync_daemon "$DIR/rsync-dest"
RSYNC_LINK=$(proxy_to "$RSYNC_PORT")
t2=$(now); rsync -a --exclude .georep-tmp "$PSTORE/" "rsync://127.0.0.1:$RSYNC_LINK/dest/"; sync; t3=$(now)
python3 -c "
g=$t1-$t0; r=$t3-$t2; n=$SMALL_N
print(f'| $LINK, many small blobs: {n} x $SMALL_SIZE B, until verified | {n/g:,.0f} items/s ({g:.1f} s) | rsync daemon over the link: {n/r:,.0f} items/s ({r:.1f} s) | {r/g:.2f} |')"

before=$(verified)
"$GEOREP" sample seed --count 1 --size "$LARGE" --config "$PCONF" >/dev/null
t0=$(now); wait_verified $((before + 1)); t1=$(now)
LARGE_REL=$(psql "$MAINDB" -Atc "select file_path from sample.uploads order by id desc limit 1")
start_nginx "$PSTORE"
NGINX_LINK=$(proxy_to "$NGINX_PORT")
t2=$(now); curl -s -o "$DIR/curl.out" "http://127.0.0.1:$NGINX_LINK/$LARGE_REL"; sync "$DIR/curl.out"; t3=$(now)
[[ $(stat -c %s "$DIR/curl.out") == "$LARGE" ]] || { echo "bench/wan.sh: curl fetched the wrong size" >&2; exit 1; }
python3 -c "
g=$t1-$t0; c=$t3-$t2; mb=$LARGE/1e6
print(f'| $LINK, one large blob: {$LARGE/2**20:.0f} MiB, until verified | {mb/g:,.0f} MB/s ({g:.2f} s) | curl from nginx over the link: {mb/c:,.0f} MB/s ({c:.2f} s) | {c/g:.2f} |')"

# Git: bench/git.sh on this demo, its baselines' clones and fetches over the
# link too.
GIT_BASE_URL="http://127.0.0.1:$LINK_PORT" bench/git.sh "$DIR/demo" "${GIT_ARGS[@]}" > "$DIR/git-rows"
sed -n "s/^| git /| $LINK, git /p" "$DIR/git-rows"

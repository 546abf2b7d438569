#!/usr/bin/env bash
# Git replication against a running demo topology, each figure beside its
# baseline in the same run; prints Markdown table rows for bench/RESULTS.md.
#
#   bench/git.sh DEMO_DIR [--commits N] [--repos N] [--changed N] [--baseline N]
#
# initial: a generated repository (bench/make-repo.py: thousands of commits,
#   files and refs) pushed to the primary; its copy on the secondary is removed
#   and resynced, timed until verified, beside `git clone --mirror` of the same
#   repository from the same HTTP server.
# unchanged: --repos repositories (empty projects' repository, wiki, design)
#   all synced; a resync of every one, timed until all are synced again,
#   beside --baseline sequential `git fetch`es of unchanged mirrors,
#   extrapolated.
# changed: one new commit in each of --changed repositories on the primary,
#   published through georep.publish_event (the SQL route any application
#   can use), timed until all are verified on the secondary, beside
#   --baseline sequential `git fetch`es of such a change.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=$1; shift
COMMITS=3000; REPOS=10000; CHANGED=1000; BASELINE=100
while (($#)); do
  case "$1" in
    --commits) COMMITS=$2; shift ;;
    --repos) REPOS=$2; shift ;;
    --changed) CHANGED=$2; shift ;;
    --baseline) BASELINE=$2; shift ;;
    *) echo "bench/git.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
GEOREP=${GEOREP:-$PWD/build/georep}
WORK=$(mktemp -d /tmp/georep-bench-git-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
topo() { python3 -c "import json; t=json.load(open('$DEMO/topology.json')); print($1)"; }
now() { date +%s.%N; }
PRIMARY_URL=$(topo "t['sites'][0]['url']")
MAINDB=$(topo "t['sites'][0]['main_db']")
TRACKING=$(topo "t['sites'][1]['tracking_db']")
SCONF=$(topo "t['sites'][1]['config']")
SROOT=$(topo "t['sites'][1]['repository_root']")
PCONF=$(topo "t['sites'][0]['config']")
# Where the baselines' git clones and fetches go: the primary, or
# (bench/wan.sh) the delaying proxy in front of it that the secondary uses.
BASE_URL=${GIT_BASE_URL:-$PRIMARY_URL}
PROOT=$(topo "t['sites'][0]['repository_root']")

# Git over HTTP needs an access token: one for every project, minted with the
# primary's admin token and sent by every git below.
ADMIN=$(tr -d '[:space:]' < "$(dirname "$PCONF")/admin-token")
TOKEN=$(curl -sf -XPOST -H "Authorization: Bearer $ADMIN" "$PRIMARY_URL/api/v1/sample/tokens" \
  -d '{"scope":"*","access":"write"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader
GIT_CONFIG_VALUE_0="Authorization: Basic $(printf 'git:%s' "$TOKEN" | base64 -w0)"
export GIT_CONFIG_VALUE_0

# The repository, built once and pushed to the primary like any user would.
git init -q --bare "$WORK/src.git"
bench/make-repo.py --commits "$COMMITS" | git -C "$WORK/src.git" fast-import --quiet --done
git -C "$WORK/src.git" repack -adq
PACK_MB=$(du -sm "$WORK/src.git/objects/pack" | cut -f1)
REFS=$(git -C "$WORK/src.git" show-ref | wc -l)
ID=$(curl -sf -XPOST -H "Authorization: Bearer $ADMIN" "$PRIMARY_URL/api/v1/sample/projects" -d "{\"path\":\"bench/big-$$\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
git -C "$WORK/src.git" push -q --mirror "$PRIMARY_URL/bench/big-$$.git"

current() {  # the secondary's copy is synced, verified and has the primary's digest
  local theirs mine
  theirs=$(psql "$MAINDB" -Atc "select checksum from georep.project_repository_states where model_id = $ID and state = 2")
  mine=$(psql "$TRACKING" -Atc "select checksum from georep.project_repository_registry where model_id = $ID and state = 2 and verification_state = 2")
  [[ -n $theirs && $theirs == "$mine" ]]
}
until current; do sleep 0.05; done

# Initial sync: no copy on the secondary, then a resync; two rounds each,
# alternating with the baseline, best of two (the first read of the freshly
# pushed repository is slower for whichever runs first).
best() { python3 -c "print(min($1, $2))"; }
G=1e9; C=1e9
for round in 1 2; do
  rm -rf "$WORK/mirror.git"
  t2=$(now); git clone -q --mirror "$BASE_URL/bench/big-$$.git" "$WORK/mirror.git"; t3=$(now)
  C=$(best "$C" "$t3 - $t2")
  rm -rf "$SROOT/bench/big-$$.git"
  "$GEOREP" resync project_repository "$ID" --config "$SCONF" >/dev/null
  t0=$(now); sleep 0.05; until current; do sleep 0.02; done; t1=$(now)
  [[ -d $SROOT/bench/big-$$.git ]] || { echo "bench/git.sh: no copy after the resync" >&2; exit 1; }
  G=$(best "$G" "$t1 - $t0")
done
python3 -c "
g=$G; c=$C
print(f'| git initial: {$PACK_MB} MB pack, $COMMITS commits, $REFS refs, until verified | {g:.2f} s | git clone --mirror, same HTTP server: {c:.2f} s | {c/g:.2f} |')"

# -- unchanged -----------------------------------------------------------
TYPES="project_repository project_wiki_repository design_management_repository"
PROJECTS=$(((REPOS + 2) / 3))
SEEDED=$("$GEOREP" sample seed --count 0 --projects "$PROJECTS" --config "$PCONF" | sed -n 's/.* projects \(seed-[0-9a-f]*\)\/p0.*/\1/p')
[[ -n $SEEDED ]] || { echo "bench/git.sh: seeding projects failed" >&2; exit 1; }
bench/wait_verified.py "$TRACKING" $((PROJECTS * 3)) 0.2 --types "${TYPES// /,}" \
  --path-like "%/$SEEDED/%"
for ((i = 0; i < BASELINE; i++)); do
  git clone -q --mirror "$BASE_URL/$SEEDED/p$i.git" "$WORK/m$i.git" 2>/dev/null  # "empty repository"
done
SINCE=$(psql "$TRACKING" -Atc "select now()")
t0=$(now)
for t in $TYPES; do "$GEOREP" resync "$t" --all --config "$SCONF" >/dev/null; done
bench/wait_verified.py "$TRACKING" $((PROJECTS * 3)) --types "${TYPES// /,}" --since "$SINCE" \
  --path-like "%/$SEEDED/%"
t1=$(now)
t2=$(now)
for ((i = 0; i < BASELINE; i++)); do git -C "$WORK/m$i.git" fetch -q --prune origin; done
t3=$(now)
python3 -c "
g=$t1-$t0; per=($t3-$t2)/$BASELINE; n=$PROJECTS*3
print(f'| git unchanged: {n:,} unchanged repositories checked | {g:.2f} s | git fetch: {per*1000:.0f} ms each, {n:,} x = {per*n:.0f} s (from $BASELINE) | {per*n/g:.0f} |')"

# -- changed -------------------------------------------------------------
CHANGED=$((CHANGED < PROJECTS ? CHANGED : PROJECTS))
TREE=$(git hash-object -t tree /dev/null)
IDS=()
for ((i = 0; i < CHANGED; i++)); do
  R=$PROOT/$SEEDED/p$i.git
  C=$(GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@example.com \
      git --git-dir="$R" commit-tree "$TREE" -m "change $i")
  git --git-dir="$R" update-ref refs/heads/main "$C"
done
psql "$MAINDB" -Atqc "
  select georep.publish_event('project_repository', id, 'updated') from sample.projects
   where path like '$SEEDED/%' and substring(path from '/p([0-9]+)\$')::int < $CHANGED;
  update georep.project_repository_states s set state = 0, checksum = null, worker_id = null
    from sample.projects p
   where p.id = s.model_id and p.path like '$SEEDED/%' and substring(p.path from '/p([0-9]+)\$')::int < $CHANGED" >/dev/null
t0=$(now)
current_changed() {
  psql "$TRACKING" -Atc "select count(*) from georep.project_repository_registry r where local_path like '%/$SEEDED/%' and state = 2 and verification_state = 2 and checksum <> '0000000000000000000000000000000000000000'"
}
until [[ $(current_changed) -ge $CHANGED ]]; do sleep 0.05; done
t1=$(now)
B=$((BASELINE < CHANGED ? BASELINE : CHANGED))
t2=$(now)
for ((i = 0; i < B; i++)); do git -C "$WORK/m$i.git" fetch -q --prune origin; done
t3=$(now)
for ((i = 0; i < B; i++)); do
  [[ $(git -C "$WORK/m$i.git" rev-list --count main) == 1 ]] || { echo "bench/git.sh: baseline fetch missed the change" >&2; exit 1; }
done
python3 -c "
g=$t1-$t0; b=$t3-$t2
print(f'| git changed: {$CHANGED:,} repositories with one new commit, until verified | {$CHANGED/g:,.0f} repos/s ({g:.1f} s) | sequential git fetch: {$B/b:,.0f} repos/s (from $B) | {($CHANGED/g)/($B/b):.2f} |')"

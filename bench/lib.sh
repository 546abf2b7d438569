# What bench/run.sh and bench/wan.sh share; sourced after DIR (a work folder)
# and GEOREP are set. The demo lives in $DIR/demo.

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
topo() { python3 -c "import json; t=json.load(open('$DIR/demo/topology.json')); print($1)"; }

export GEOREP_VERIFICATION_INTERVAL_SECONDS=31536000  # no scrub during a run

# Starts the demo (or its stopped daemons again) and reads where everything is.
demo_up() {
  "$GEOREP" demo up --dir "$DIR/demo" --seed 0 >/dev/null
  PCONF=$DIR/demo/primary/georep.toml
  PRIMARY_URL=$(topo "t['sites'][0]['url']")
  # The sample forge's writes need credentials: the primary's admin token.
  ADMIN_AUTH="Authorization: Bearer $(tr -d '[:space:]' < "$DIR/demo/primary/admin-token")"
  PSTORE=$(topo "t['sites'][0]['storage_root']")
  MAINDB=$(topo "t['sites'][0]['main_db']")
  TRACKING=$(topo "t['sites'][1]['tracking_db']")
  KINDS=$(psql "$TRACKING" -Atc "select string_agg(replace(tablename, '_registry', ''), ' ') from pg_tables where schemaname = 'georep' and tablename like '%\_registry'")
}
# Copies synced and verified on the secondary, every type.
verified() {
  psql "$TRACKING" -Atc "select coalesce(sum(n), 0) from ($(for k in $KINDS; do
    echo "select count(*) as n from georep.${k}_registry where state = 2 and verification_state = 2 union all"; done) select 0) x"
}
# Polls every 20 ms over one kept connection, reading the maintained counts
# (a new psql per poll counting every row took a sixth of the CPU).
wait_verified() { bench/wait_verified.py "$TRACKING" "$1"; }
stop_secondary() {  # until `demo_up` starts it again
  local pid; pid=$(topo "t['sites'][1]['pid']")
  kill -TERM "$pid"
  while [[ -e /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; do sleep 0.05; done
}
# Waits until a TCP port answers.
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listens on port $1" >&2
  return 1
}
# An rsync daemon whose module "dest" writes into $1; sets RSYNC_PORT, RSYNC_PID.
start_rsync_daemon() {
  RSYNC_PORT=$(free_port)
  mkdir -p "$1"
  cat > "$DIR/rsyncd-$RSYNC_PORT.conf" <<CONF
port = $RSYNC_PORT
address = 127.0.0.1
use chroot = no
uid = root
gid = root
[dest]
path = $1
read only = no
CONF
  rsync --daemon --no-detach --config="$DIR/rsyncd-$RSYNC_PORT.conf" & RSYNC_PID=$!
  wait_port "$RSYNC_PORT"
}
# nginx serving the folder $1; sets NGINX_PORT, NGINX_PID.
start_nginx() {
  NGINX_PORT=$(free_port)
  local home=$DIR/nginx-$NGINX_PORT
  mkdir -p "$home/logs"
  cat > "$home/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $home/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  server { listen 127.0.0.1:$NGINX_PORT; root $1; }
}
CONF
  nginx -e stderr -p "$home" -c "$home/nginx.conf" -g 'daemon off;' & NGINX_PID=$!
  wait_port "$NGINX_PORT"
}
# Uploads file $1 to the primary $2 times, one started every 20 ms (about 50
# a second), each in the background so that a slow response does not slow
# the pace; prints the new uploads' ids, comma-separated. $3 names the batch.
paced_uploads() {
  local pids=() i
  for ((i = 0; i < $2; i++)); do
    curl -s -H "$ADMIN_AUTH" --data-binary @"$1" -o "$DIR/up-$3-$i" "$PRIMARY_URL/api/v1/sample/upload" &
    pids+=($!)
    sleep 0.02
  done
  wait "${pids[@]}"
  python3 -c "
import json, sys
print(','.join(str(json.load(open(f))['id']) for f in sys.argv[1:]))" "$DIR"/up-"$3"-*
}
# A daemon in service has its connections open; the first syncs of a new
# one open them (each worker its standby, tracking and HTTP connections),
# which is start-up cost, not latency: 20 uploads, waited for.
warm_up() {
  local before; before=$(verified)
  head -c 1024 /dev/urandom > "$DIR/warm"
  paced_uploads "$DIR/warm" 20 warm >/dev/null
  wait_verified $((before + 20))
}

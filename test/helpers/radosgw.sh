#!/usr/bin/env bash
# A throwaway Ceph cluster with an S3 gateway on loopback, for the S3 tests:
# one mon, one memstore OSD (data in RAM) and radosgw, everything under DIR.
#   radosgw.sh start DIR ACCESS_KEY SECRET_KEY   prints "endpoint=http://127.0.0.1:PORT" when ready
#   radosgw.sh stop DIR                          ends the daemons it started (their pid files in DIR/run)
# Needs Debian's radosgw, ceph-mon, ceph-osd and uuid-runtime (apt-get install --no-install-recommends ...).
# Settings that matter here (see the README's development section): auth none with
# `ms mon client mode = crc` for the gateway (else it hangs ~300 s at start), public/cluster
# addr 127.0.0.1 (else the OSD binds 0.0.0.0), pool size 1.
set -euo pipefail
cmd=${1:?usage: radosgw.sh start|stop DIR ...}
dir=${2:?usage: radosgw.sh start|stop DIR ...}

stop() {
  for f in "$dir"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for f in "$dir"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    for _ in $(seq 1 50); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
}
if [ "$cmd" = stop ]; then stop; exit 0; fi

access=${3:?access key}
secret=${4:?secret key}
mkdir -p "$dir"/{run,log,mon,osd/ceph-0,rgw}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
# a run of 40 consecutive free ports for the daemons' messenger
port_range() {
  for _ in $(seq 1 50); do
    local base=$((20000 + RANDOM % 30000)) ok=1
    for p in $(seq "$base" $((base + 39))); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then ok=0; break; fi
    done
    [ $ok = 1 ] && { echo "$base"; return; }
  done
  return 1
}
mon_v2=$(free_port); mon_v1=$(free_port); rgw_port=$(free_port); ms_min=$(port_range)
fsid=$(uuidgen)
conf="$dir/ceph.conf"
cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind port min = $ms_min
ms bind port max = $((ms_min + 39))
auth cluster required = none
auth service required = none
auth client required = none
osd objectstore = memstore
memstore device bytes = 536870912
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
run dir = $dir/run
admin socket = $dir/run/\$cluster-\$name.asok
log file = $dir/log/\$cluster-\$name.log
pid file = $dir/run/\$name.pid
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
keyring = $dir/keyring
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
ms mon client mode = crc
CONF
trap 'stop' ERR
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
ceph-mon -c "$conf" -i a 2>>"$dir/log/start.log"
uuid=$(uuidgen)
id=$(timeout 60 ceph -c "$conf" osd new "$uuid")
ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
ceph-osd -c "$conf" -i "$id" 2>>"$dir/log/start.log"
radosgw -c "$conf" -n client.rgw.a 2>>"$dir/log/start.log"
for _ in $(seq 1 120); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$rgw_port") 2>/dev/null; then break; fi
  sleep 0.5
done
timeout 60 radosgw-admin -c "$conf" -n client.admin user create --uid modelmount-test --display-name "modelmount test" \
  --access-key "$access" --secret-key "$secret" >/dev/null
echo "endpoint=http://127.0.0.1:$rgw_port"

#!/usr/bin/env bash
# Issue 17, must-show 2, end to end with the CLI on loopback: a real etcd, 3 'scalio server --cluster' processes (RAM
# namespaces, emulated NIC each), 'scalio cluster add' for each, a 'scalio ycsb --cluster' YCSB-A client process
# that loads and runs for SECS seconds, and, while it runs, a 4th server added with 'scalio cluster add'. Prints the
# add's 'keys moved: X of Y (Z%)' and the client's 'client errors: N'; exits 0 only when the moved fraction is at most
# 1/3, the client saw no error and no value mismatch.
# Usage: perf/cluster-add.sh [DIR]   (env: RECORDS=20000, THREADS=2, SECS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-$(mktemp -d /tmp/scalio-cluster-add.XXXXXX)}
records=${RECORDS:-20000}
threads=${THREADS:-2}
secs=${SECS:-20}
command -v etcd >/dev/null 2>&1 || { echo "etcd is required (apt-get install etcd-server)" >&2; exit 2; }
mkdir -p "$dir"
dotnet build -c Release src/Scalio.Cli >/dev/null
bin=src/Scalio.Cli/bin/Release/net10.0/scalio
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
pids=()
# Stops what this script started, by PID, newest first (etcd last, so the servers leave it cleanly).
cleanup() { for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done; }
trap cleanup EXIT
cport=$(free_port); pport=$(free_port)
etcd --name scalio-perf --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "scalio-perf=http://127.0.0.1:$pport" >"$dir/etcd.log" 2>&1 &
pids+=($!)
cluster="etcd://127.0.0.1:$cport"
for i in $(seq 1 50); do "$bin" cluster status --cluster "$cluster" >/dev/null 2>&1 && break; sleep 0.2; done
start_server() {
  local id=$1 port; port=$(free_port)
  "$bin" server --fabric tcp --listen "127.0.0.1:$port" --records "$records" --cluster "$cluster" --id "$id" >"$dir/server$id.log" 2>&1 &
  pids+=($!)
  for i in $(seq 1 150); do grep -qs '^cluster: registered' "$dir/server$id.log" && return 0; sleep 0.2; done
  echo "server $id did not start:" >&2; cat "$dir/server$id.log" >&2; exit 1
}
echo "== etcd at $cluster, 3 servers"
for id in 1 2 3; do start_server "$id"; "$bin" cluster add --cluster "$cluster" --id "$id" | tail -1; done
start_server 4
echo "== YCSB-A, $records records, $threads threads, ${secs} s, routed by the map; the 4th server is added 3 s into the run"
"$bin" ycsb --cluster "$cluster" --workload A --records "$records" --operations 100000000 --seconds "$secs" --threads "$threads" >"$dir/ycsb.log" 2>&1 &
ycsb=$!
pids+=($ycsb)
for i in $(seq 1 600); do grep -q '^run: started' "$dir/ycsb.log" 2>/dev/null && break; sleep 0.1; done
sleep 3
"$bin" cluster add --cluster "$cluster" --id 4 | tee "$dir/add4.log" | grep -v '^map'
rc=0; wait "$ycsb" || rc=$?
grep -E '^(YCSB|cluster:)' "$dir/ycsb.log"
"$bin" cluster status --cluster "$cluster" | head -1
moved=$(grep '^keys moved:' "$dir/add4.log" | sed -E 's/keys moved: ([0-9]+) of ([0-9]+).*/\1 \2/')
read -r m y <<<"$moved"
if [ "$rc" -ne 0 ]; then echo "FAIL: the client exited $rc"; tail -5 "$dir/ycsb.log"; exit 1; fi
if [ "$y" -eq 0 ] || [ $((m * 3)) -gt "$y" ]; then echo "FAIL: moved $m of $y (more than 1/3, or nothing held)"; exit 1; fi
echo "ok: moved $m of $y keys (<= 1/3), no client errors"

#!/usr/bin/env bash
# Real I/O at device speed: fio (io_uring, O_DIRECT, 4 KiB random reads, queue depth Q) and Scalio's miss path
# (YCSB-C with --data-dir: clients read the SSD files through the emulated offload engine) on the same file system,
# in one run. Prints both device read rates and "ratio: X" = Scalio's miss-path device reads/s / fio's IOPS.
# Usage: perf/io-ceiling.sh [DIR]   (env: THREADS=2 client threads, BATCH=16 GETs in flight per thread (--read-batch),
#   ENGINES=1 offload engine threads (io_uring), DEPTH=16 offload queue depth per connection, SECS=10 per side,
#   CACHE=0.01 cache fraction). Scalio keeps at most THREADS x min(BATCH, DEPTH) reads in flight; fio runs at that depth.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/scalio-io-ceiling}
threads=${THREADS:-2}
batch=${BATCH:-16}
secs=${SECS:-10}
engines=${ENGINES:-1}
depth=${DEPTH:-16}
q=$((threads * (batch < depth ? batch : depth)))
if ! command -v fio >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends fio >/dev/null; fi
  command -v fio >/dev/null 2>&1 || { echo "fio is required (apt-get install fio)" >&2; exit 2; }
fi
mkdir -p "$dir"
rm -rf "$dir/store" "$dir/scalio.json"
echo "== Scalio: YCSB-C, file namespaces in $dir/store, $threads client threads each with $batch GETs in flight (at most $q device reads in flight), offload engine threads $engines, cache 1% of the records (a miss-dominated run: the point is the device read rate)"
dotnet run -c Release --project src/Scalio.Cli -- ycsb --workload C --data-dir "$dir/store" --records 200000 \
  --operations 100000000 --seconds "$secs" --threads "$threads" --read-batch "$batch" --offload-threads "$engines" --offload-depth "$depth" --cache-fraction "${CACHE:-0.01}" --saturation-seconds 0 \
  --json "$dir/scalio.json" | grep -E "│ scalio|file namespaces" || true
size=$(stat -c %s "$dir/store/ssd0.img")
echo "== fio: io_uring, O_DIRECT, 4 KiB random reads, iodepth $q, a $((size / 1048576)) MiB file beside the store"
fio --name=ceiling --filename="$dir/fio.img" --size="$size" --ioengine=io_uring --direct=1 --rw=randread --bs=4k \
  --iodepth="$q" --numjobs=1 --time_based --runtime="$secs" --group_reporting --output-format=json > "$dir/fio.json"
python3 - "$dir/scalio.json" "$dir/fio.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["systems"][0]
f = json.load(open(sys.argv[2]))["jobs"][0]["read"]["iops"]
reads = s["ssdReadsPerOp"] * s["opsPerSecond"]
print(f"scalio: {s['opsPerSecond']:,.0f} ops/s, hit ratio {s['hitRatio']:.1%}, {s['ssdReadsPerOp']:.3f} device reads/op -> {reads:,.0f} device reads/s (miss p50 {s['getMissP50Micros']} us)")
print(f"fio:    {f:,.0f} IOPS")
print(f"ratio: {reads / f:.2f}")
PY

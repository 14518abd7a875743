#!/usr/bin/env bash
# Real I/O at device speed: fio (io_uring, O_DIRECT, 4 KiB random reads, queue depth Q) and Scalio's miss path
# (YCSB-C with --data-dir: clients read the SSD files through the emulated offload engine) on the same file system,
# in one run. Prints both device read rates and "ratio: X" = Scalio's miss-path device reads/s / fio's IOPS.
# The virtual disk here is shared and its speed drifts by 2x within minutes, so the two alternate: fio, Scalio, fio,
# ..., fio (ROUNDS Scalio runs on the store loaded once); each Scalio run is divided by the mean of the fio runs just
# before and after it, and "ratio:" is the median of those per-round ratios.
# Usage: perf/io-ceiling.sh [DIR]   (env: THREADS=2 client threads, BATCH=32 GETs per batch per thread (--read-batch),
#   ENGINES=1 offload engine threads (io_uring), DEPTH=16 offload queue depth per connection, SECS=10 per run,
#   ROUNDS=3, CACHE=0.01 cache fraction). Scalio keeps at most THREADS x min(BATCH, DEPTH) reads in flight; fio runs
#   at that depth.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/scalio-io-ceiling}
threads=${THREADS:-2}
batch=${BATCH:-32}
secs=${SECS:-10}
rounds=${ROUNDS:-3}
engines=${ENGINES:-1}
depth=${DEPTH:-16}
q=$((threads * (batch < depth ? batch : depth)))
if ! command -v fio >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends fio >/dev/null; fi
  command -v fio >/dev/null 2>&1 || { echo "fio is required (apt-get install fio)" >&2; exit 2; }
fi
mkdir -p "$dir"
rm -rf "$dir/store" "$dir"/scalio-*.json "$dir"/fio-*.json
dotnet build -c Release src/Scalio.Cli >/dev/null
scalio() { dotnet run -c Release --no-build --project src/Scalio.Cli -- "$@"; }
common=(ycsb --workload C --data-dir "$dir/store" --records 200000 --operations 100000000 --threads "$threads"
  --read-batch "$batch" --offload-threads "$engines" --offload-depth "$depth" --cache-fraction "${CACHE:-0.01}" --saturation-seconds 0)
echo "== load: YCSB-C, file namespaces in $dir/store (200,000 records); runs: $threads client threads each with $batch GETs in flight (at most $q device reads in flight), offload engine threads $engines, cache ${CACHE:-0.01} of the records (a miss-dominated run: the point is the device read rate)"
scalio "${common[@]}" --seconds 1 >/dev/null
size=$(stat -c %s "$dir/store/ssd0.img")
fio_run() {
  fio --name=ceiling --filename="$dir/fio.img" --size="$size" --ioengine=io_uring --direct=1 --rw=randread --bs=4k \
    --iodepth="$q" --numjobs=1 --time_based --runtime="$secs" --group_reporting --output-format=json > "$dir/fio-$1.json"
}
echo "== $rounds rounds of fio (io_uring, O_DIRECT, 4 KiB random reads, iodepth $q, a $((size / 1048576)) MiB file beside the store) then Scalio, $secs s each, and fio once more"
fio_run 0
for r in $(seq 1 "$rounds"); do
  scalio "${common[@]}" --skip-load --seconds "$secs" --json "$dir/scalio-$r.json" >/dev/null
  fio_run "$r"
done
python3 - "$dir" "$rounds" <<'PY'
import json, sys, statistics
d, rounds = sys.argv[1], int(sys.argv[2])
fio = [json.load(open(f"{d}/fio-{r}.json"))["jobs"][0]["read"]["iops"] for r in range(rounds + 1)]
ratios = []
for r in range(1, rounds + 1):
    s = json.load(open(f"{d}/scalio-{r}.json"))["systems"][0]
    reads = s["ssdReadsPerOp"] * s["opsPerSecond"]
    around = (fio[r - 1] + fio[r]) / 2
    ratios.append(reads / around)
    print(f"round {r}: scalio {s['opsPerSecond']:,.0f} ops/s, hit ratio {s['hitRatio']:.1%}, {s['ssdReadsPerOp']:.3f} device reads/op -> {reads:,.0f} device reads/s (miss p50 {s['getMissP50Micros']} us); fio before/after {fio[r - 1]:,.0f} / {fio[r]:,.0f} IOPS; ratio {ratios[-1]:.2f}")
print(f"fio:    {statistics.median(fio):,.0f} IOPS (median of {len(fio)} runs)")
print(f"ratio: {statistics.median(ratios):.2f}")
PY

#!/usr/bin/env bash
# The measured-capacity runs of docs/bench/measured.md, one after the other (each a single process that runs the
# compared systems under the same server CPU budget MODEL and SSD MODEL; see README "Measured capacity").
# Usage: perf/measured.sh [OUTDIR]   (env: K=50 scale-down, THREADS=64 client threads: enough writers in flight to load the servers)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/scalio-measured}
k=${K:-50}
t=${THREADS:-64}
mkdir -p "$out"
dotnet build -c Release src/Scalio.Cli >/dev/null
run() { dotnet run -c Release --no-build --project src/Scalio.Cli -- ycsb "$@"; }
echo "== YCSB-C, 7 SSDs, scale-down $k (the SSDs: files in a temporary directory, real I/O)"
run --system scalio,leed-ditto --workload C --ssds 7 --scale-down "$k" --threads "$t" --json "$out/c.json"
echo "== YCSB-A, 7 SSDs, scale-down $k (LEED too, for the per-PUT cost at saturation)"
run --system scalio,leed-ditto,leed --workload A --ssds 7 --scale-down "$k" --threads "$t" --json "$out/a.json"
echo "== YCSB-A, 7 SSDs, scale-down $k, --ram (RAM namespaces: a device command costs the server nothing; for the record)"
run --system scalio,leed-ditto,leed --workload A --ssds 7 --scale-down "$k" --threads "$t" --ram --json "$out/a-ram.json"
echo "== YCSB-C, unbudgeted default, 1 client thread (GET miss vs GET hit latency)"
run --workload C --threads 1 --saturation-seconds 0 --json "$out/c1.json"
python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
def rows(f): return {r["system"]: r for r in json.load(open(os.path.join(d, f)))["systems"]}
c, a, ar, c1 = rows("c.json"), rows("a.json"), rows("a-ram.json"), rows("c1.json")
print(f"C:  scalio {c['scalio']['opsPerSecond']:,.0f} ops/s / leed-ditto {c['leed-ditto']['opsPerSecond']:,.0f} = {c['scalio']['opsPerSecond'] / c['leed-ditto']['opsPerSecond']:.2f}x (measured)")
print(f"A:  scalio {a['scalio']['opsPerSecond']:,.0f} ops/s / leed-ditto {a['leed-ditto']['opsPerSecond']:,.0f} = {a['scalio']['opsPerSecond'] / a['leed-ditto']['opsPerSecond']:.2f}x (measured)")
print(f"PUT at saturation: scalio {a['scalio']['serverMicrosPerPutAtSaturation']:.2f} us / leed {a['leed']['serverMicrosPerPutAtSaturation']:.2f} us = {a['scalio']['serverMicrosPerPutAtSaturation'] / a['leed']['serverMicrosPerPutAtSaturation']:.2f}x")
print(f"A on RAM (--ram):  scalio {ar['scalio']['opsPerSecond']:,.0f} ops/s / leed-ditto {ar['leed-ditto']['opsPerSecond']:,.0f} = {ar['scalio']['opsPerSecond'] / ar['leed-ditto']['opsPerSecond']:.2f}x (measured)")
print(f"PUT at saturation on RAM (--ram): scalio {ar['scalio']['serverMicrosPerPutAtSaturation']:.2f} us / leed {ar['leed']['serverMicrosPerPutAtSaturation']:.2f} us = {ar['scalio']['serverMicrosPerPutAtSaturation'] / ar['leed']['serverMicrosPerPutAtSaturation']:.2f}x")
s = c1["scalio"]
print(f"1 thread C: GET miss p50 {s['getMissP50Micros']:.1f} us / GET hit p50 {s['getHitP50Micros']:.2f} us = {s['getMissP50Micros'] / s['getHitP50Micros']:.1f}x")
PY

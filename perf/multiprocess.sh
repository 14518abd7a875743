#!/usr/bin/env bash
# Issue 8, must-show 1, by hand: a server process, an offload-target process and two client processes over libfabric
# tcp;ofi_rxm on 127.0.0.1 run YCSB-C, then YCSB-A; each client writes its history and `scalio check --verify` judges
# the merged histories. Every process is stopped by its PID at the end (SIGTERM: clean shutdown), whatever happens.
#
#   perf/multiprocess.sh                      # build (Release) and run with the defaults below
#   RECORDS=20000 OPS=20000 THREADS=2 perf/multiprocess.sh
#   SCALIO_ARTIFACTS=/tmp/art perf/multiprocess.sh   # build with --artifacts-path /tmp/art
#
# Needs libfabric (`apt-get install libfabric1`). Exit status: that of `scalio check --verify` (0 = linearizable),
# or 1 if a process failed.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-7100}
TARGET_PORT=${TARGET_PORT:-7101}
RECORDS=${RECORDS:-2000}
OPS=${OPS:-3000}
THREADS=${THREADS:-2}
SECONDS_MAX=${SECONDS_MAX:-20}
WORK=$(mktemp -d /tmp/scalio-multiprocess.XXXXXX)

if [[ -n "${SCALIO_ARTIFACTS:-}" ]]; then
  dotnet build src/Scalio.Cli -c Release --artifacts-path "$SCALIO_ARTIFACTS" -v q -nologo >/dev/null
  CLI="$SCALIO_ARTIFACTS/bin/Scalio.Cli/release/scalio.dll"
else
  dotnet build src/Scalio.Cli -c Release -v q -nologo >/dev/null
  CLI=$(ls src/Scalio.Cli/bin/Release/net*/scalio.dll | head -1)
fi
scalio() { exec dotnet "$CLI" "$@"; } # exec: a background job's PID is the scalio process itself

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_ready() { # file, name
  for _ in $(seq 1 120); do
    if grep -q ready "$1"; then grep ready "$1"; return 0; fi
    sleep 0.25
  done
  echo "$2 printed no ready line in 30 s:"; cat "$1"; exit 1
}

echo "== work directory $WORK"
(scalio server --fabric tcp --listen 127.0.0.1:$PORT --data-dir "$WORK/data" --records "$RECORDS" \
  --offload-target 127.0.0.1:$TARGET_PORT) > "$WORK/server.log" 2>&1 &
SERVER=$!; PIDS+=("$SERVER")
wait_ready "$WORK/server.log" server
(scalio target --data-dir "$WORK/data" --listen 127.0.0.1:$TARGET_PORT) > "$WORK/target.log" 2>&1 &
TARGET=$!; PIDS+=("$TARGET")
wait_ready "$WORK/target.log" target

client() { # name workload seed extra...
  local name=$1 workload=$2 seed=$3; shift 3
  (scalio ycsb --connect 127.0.0.1:$PORT --workload "$workload" --records "$RECORDS" --operations "$OPS" \
    --threads "$THREADS" --seconds "$SECONDS_MAX" --seed "$seed" --history "$WORK/$name.jsonl" "$@") > "$WORK/$name.log" 2>&1
}

pair() { # label nameA seedA nameB seedB workload extra...
  local label=$1 a=$2 sa=$3 b=$4 sb=$5 w=$6; shift 6
  echo "== $label: two client processes"
  client "$a" "$w" "$sa" "$@" & local pa=$!
  client "$b" "$w" "$sb" "$@" & local pb=$!
  local rc=0
  wait "$pa" || rc=1
  wait "$pb" || rc=1
  for n in "$a" "$b"; do echo "-- $n"; grep -v '^\s*$' "$WORK/$n.log"; done
  if [[ $rc != 0 ]]; then echo "a client failed"; exit 1; fi
}

# YCSB-C: both processes load (the same keys; a second load only rewrites them, so the load is idempotent), then read.
pair "YCSB-C" c1 1 c2 2 C
# YCSB-A: the records are loaded; different seeds give the processes different key streams.
pair "YCSB-A" a1 3 a2 4 A --skip-load

echo "== scalio check --verify (merged histories of both clients and both workloads)"
set +e
(scalio check --verify "$WORK/c1.jsonl" "$WORK/c2.jsonl" "$WORK/a1.jsonl" "$WORK/a2.jsonl")
verdict=$?
set -e

echo "== SIGTERM to server ($SERVER) and target ($TARGET)"
kill -TERM "$SERVER" "$TARGET"
wait "$SERVER" || { echo "server exited with $?"; verdict=1; }
wait "$TARGET" || { echo "target exited with $?"; verdict=1; }
PIDS=()
echo "-- server"; cat "$WORK/server.log"
echo "-- target"; cat "$WORK/target.log"
exit $verdict

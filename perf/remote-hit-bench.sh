#!/usr/bin/env bash
# Issue 17, must-show 3: one 'scalio server --fabric tcp' process (RAM namespaces, emulated NIC) and one client process
# ('scalio bench remote-hit') over libfabric tcp;ofi_rxm on 127.0.0.1. The client measures, in interleaved rounds on
# one thread with one operation in flight, remote GET hits of cached keys and bare fabric READs of one cache bucket
# (same server region, same size, each on its own endpoint of the same kind, both waited for by the one wait policy);
# it prints every round, both rates and 'ratio: X' (GET-hit rate / READ rate). Exits 0 when X >= MIN_RATIO.
# Usage: perf/remote-hit-bench.sh   (env: ROUNDS=6, OPS=5000 per leg per round, KEYS=64, MIN_RATIO=0.8)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-6}
ops=${OPS:-5000}
keys=${KEYS:-64}
min_ratio=${MIN_RATIO:-0.8}
dir=$(mktemp -d /tmp/scalio-remote-hit.XXXXXX)
dotnet build -c Release src/Scalio.Cli >/dev/null
bin=src/Scalio.Cli/bin/Release/net10.0/scalio
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
server=
# Stops the server by its PID (SIGTERM: clean shutdown).
cleanup() { if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi; }
trap cleanup EXIT
port=$(free_port)
"$bin" server --fabric tcp --listen "127.0.0.1:$port" --records 20000 >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 150); do grep -qs '^ready' "$dir/server.log" && break; sleep 0.2; done
grep -qs '^ready' "$dir/server.log" || { echo "the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
echo "== commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
"$bin" bench remote-hit --connect "127.0.0.1:$port" --rounds "$rounds" --ops "$ops" --keys "$keys" | tee "$dir/bench.log"
ratio=$(sed -n 's/^ratio: //p' "$dir/bench.log")
[[ -n "$ratio" ]] || { echo "no ratio line" >&2; exit 1; }
if python3 -c "import sys; sys.exit(0 if float('$ratio') >= float('$min_ratio') else 1)"; then
  echo "ratio $ratio >= $min_ratio"
else
  echo "ratio $ratio < $min_ratio" >&2
  exit 1
fi

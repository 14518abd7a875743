#!/usr/bin/env bash
# Runs every test of Scalio.Fast and ends with one line "N passed, N failed, N skipped".
# Usage: ./test.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Store]
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if ! command -v dotnet >/dev/null 2>&1; then
  echo "the .NET 10 SDK is required (dotnet not on PATH)" >&2
  exit 1
fi
# The real parts the tests guard, from Debian (root only; elsewhere install them yourself or the tests skip, and
# under CI=true a skipped real-part test fails): QEMU and kmod for the Linux NVMe/TCP interop guest, libfabric
# (tcp;ofi_rxm, shm) and fi_info for the multi-process fabric, promtool for the metrics exposition, etcd for the
# sharded cluster's map.
if [ "$(id -u)" = 0 ] && ! command -v qemu-system-x86_64 >/dev/null 2>&1; then apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends qemu-system-x86 kmod >/dev/null || echo "warning: apt-get install qemu-system-x86 kmod failed" >&2; fi
if [ "$(id -u)" = 0 ] && ! ldconfig -p 2>/dev/null | grep -c 'libfabric\.so\.1' >/dev/null; then apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends libfabric1 libfabric-bin >/dev/null || echo "warning: apt-get install libfabric1 failed; the libfabric tests will be skipped" >&2; fi
# promtool (Debian package prometheus; its service is not started) validates the metrics endpoint's exposition.
if [ "$(id -u)" = 0 ] && ! command -v promtool >/dev/null 2>&1; then apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends prometheus >/dev/null || echo "warning: apt-get install prometheus failed; the promtool metrics test will be skipped (and fail under CI=true)" >&2; fi
# etcd (Debian package etcd-server; its service is not started: the cluster tests run their own etcd on free loopback ports).
if [ "$(id -u)" = 0 ] && ! command -v etcd >/dev/null 2>&1; then apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends etcd-server >/dev/null || echo "warning: apt-get install etcd-server failed; the cluster test will be skipped (and fail under CI=true)" >&2; fi
bash tests/interop/nvmet-guest.sh prepare || echo "warning: the nvmet guest was not prepared; the interop tests will try again" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet test Scalio.Fast.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# Sum the per-run summaries. vstest prints, per test run:
#   "Total tests: 12" / "     Passed: 12" / "     Failed: 0" / "    Skipped: 0"   (normal verbosity)
#   "Passed!  - Failed: 0, Passed: 12, Skipped: 0, Total: 12"                 (minimal verbosity)
read -r passed failed skipped < <(awk '
  /^ +Passed: +[0-9]+ *$/  { p += $2 }
  /^ +Failed: +[0-9]+ *$/  { f += $2 }
  /^ +Skipped: +[0-9]+ *$/ { s += $2 }
  /(Passed|Failed)! +- +Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+/ {
    gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
  END { printf "%d %d %d\n", p, f, s }' "$log")
if [ "${passed:-0}" -eq 0 ] && [ "${failed:-0}" -eq 0 ]; then
  echo "no test was executed (build failure or empty filter); dotnet test exited with $rc" >&2
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
if [ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
# Name each failed test and its first error line next to the summary, where a truncated CI log still shows them.
awk '/^ +Failed [A-Za-z_][A-Za-z0-9_.]+/ { sub(/^ +/, ""); print "FAILED: " $0; want = 1; next }
     want && /^ +Error Message:/ { getline; sub(/^ +/, ""); print "   " substr($0, 1, 300); want = 0 }' "$log"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$rc" -eq 0 ] && [ "${failed}" -eq 0 ]

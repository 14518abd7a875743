#!/usr/bin/env bash
# Perf-regression check between two commits: builds both, times every hot-path step of each commit's own HotPathRig
# (tests/Scalio.Tests/Gate) with the same timer (perf/Scalio.Regress, from this checkout), alternating the two builds
# for several rounds in one run so that both see the same host, and gates on what it measured:
#   - a step regressed when its median HEAD/BASE time ratio is over 1 + THRESHOLD and the two builds' ranges of
#     per-round times do not overlap (slower beyond the noise this run saw);
#   - any allocation on a step's thread in HEAD fails (allocation must stay exactly 0).
# Usage: perf/regress.sh [--quick] BASE [HEAD]     (HEAD defaults to HEAD; any git revision)
#   --quick: the CI form: 3 rounds of 150 ms per step, THRESHOLD 1.0 (only gross regressions, 2x and more, fail:
#            CI shares a noisy 2-core machine), no YCSB run.
# Env: ROUNDS (default 5), STEP_MS (300), THRESHOLD (0.10), SYSTEM=1 (default in the full form) also runs a short
#   `scalio ycsb --system all` from each build per round and reports its ops/s ratios (reported, not gated).
#   SCALIO_REGRESS_CACHE=DIR keeps each commit's build in DIR/<sha> and reuses it in later runs.
# Exit: 0 no regression, 1 a step regressed or allocated (named on a "regressed:" line), 2 bad usage or build failure.
# To gate your own benchmarks: add a step to HotPathRig (a method that does one operation and allocates nothing) and
# to the step list in perf/Scalio.Regress/Program.cs; regress.sh then times and gates it like the others.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: perf/regress.sh [--quick] BASE [HEAD]" >&2; exit 2; fi
rounds=${ROUNDS:-$([ $quick = 1 ] && echo 3 || echo 5)}
step_ms=${STEP_MS:-$([ $quick = 1 ] && echo 150 || echo 300)}
threshold=${THRESHOLD:-$([ $quick = 1 ] && echo 1.0 || echo 0.10)}
system=${SYSTEM:-$([ $quick = 1 ] && echo 0 || echo 1)}
cd "$here"
base=$(git rev-parse --verify -q "$1^{commit}") || { echo "error: '$1' is not a commit" >&2; exit 2; }
head=$(git rev-parse --verify -q "${2:-HEAD}^{commit}") || { echo "error: '${2:-HEAD}' is not a commit" >&2; exit 2; }
work=$(mktemp -d /tmp/scalio-regress.XXXXXX)
cleanup() {
  for d in "$work"/tree-*; do [ -d "$d" ] && git -C "$here" worktree remove --force "$d" >/dev/null 2>&1; done
  git -C "$here" worktree prune >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

bins=${SCALIO_REGRESS_CACHE:-$work}
mkdir -p "$bins"
build() { # build <sha>: a worktree at <sha> with this checkout's timer (and the CLI with SYSTEM=1), built into $bins/<sha>
  local sha=$1 tree="$work/tree-$1"
  [ -f "$bins/$sha/steps.ok" ] && { [ "$system" = 0 ] || [ -f "$bins/$sha/cli.ok" ]; } && return 0
  git -C "$here" worktree add --detach -q "$tree" "$sha"
  rm -rf "$tree/perf/Scalio.Regress" && mkdir -p "$tree/perf/Scalio.Regress"
  cp "$here/perf/Scalio.Regress/Program.cs" "$here/perf/Scalio.Regress/Scalio.Regress.csproj" "$tree/perf/Scalio.Regress/"
  echo "== building ${sha:0:12}" >&2
  if [ ! -f "$bins/$sha/steps.ok" ]; then
    rm -rf "${bins:?}/$sha/steps"
    dotnet build -c Release "$tree/perf/Scalio.Regress" -o "$bins/$sha/steps" >"$work/build-$sha.log" 2>&1 \
      || { tail -20 "$work/build-$sha.log" >&2; echo "error: building ${sha:0:12} failed" >&2; exit 2; }
    touch "$bins/$sha/steps.ok"
  fi
  if [ "$system" = 1 ] && [ ! -f "$bins/$sha/cli.ok" ]; then
    rm -rf "${bins:?}/$sha/cli"
    dotnet build -c Release "$tree/src/Scalio.Cli" -o "$bins/$sha/cli" >>"$work/build-$sha.log" 2>&1 \
      || { tail -20 "$work/build-$sha.log" >&2; echo "error: building the CLI at ${sha:0:12} failed" >&2; exit 2; }
    touch "$bins/$sha/cli.ok"
  fi
  git -C "$here" worktree remove --force "$tree"
}
build "$base"
build "$head"

echo "== $rounds rounds, builds alternating (base ${base:0:12}, head ${head:0:12}), $step_ms ms per step; threshold $threshold"
for r in $(seq 1 "$rounds"); do
  order=("$base" "$head"); [ $((r % 2)) = 0 ] && order=("$head" "$base")
  for sha in "${order[@]}"; do
    label=$([ "$sha" = "$base" ] && echo base || echo head)
    # Same commit on both sides: still two runs per round, the noise check.
    [ "$base" = "$head" ] && label=$([ -f "$work/steps-base-$r" ] && echo head || echo base)
    dotnet "$bins/$sha/steps/Scalio.Perf.dll" --ms "$step_ms" > "$work/steps-$label-$r" || { echo "error: the step timer failed at ${sha:0:12}" >&2; exit 2; }
    if [ "$system" = 1 ]; then
      dotnet "$bins/$sha/cli/scalio.dll" ycsb --system all --records 20000 --seconds 2 --saturation-seconds 0 \
        --json "$work/system-$label-$r.json" >/dev/null 2>&1 || echo "warning: the YCSB run at ${sha:0:12} failed (round $r)" >&2
    fi
  done
done

python3 - "$work" "$rounds" "$threshold" "$system" <<'PY'
import json, os, statistics, sys
work, rounds, threshold, system = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
def steps(label, r):
    out = {}
    for line in open(f"{work}/steps-{label}-{r}"):
        p = line.split()
        if p and p[0] == "step": out[p[1]] = (float(p[2]), int(p[3]))
    return out
runs = {lab: [steps(lab, r) for r in range(1, rounds + 1)] for lab in ("base", "head")}
names = [n for n in runs["base"][0] if all(n in x for x in runs["base"] + runs["head"])]
missing = sorted(set(runs["head"][0]) ^ set(runs["base"][0]))
bad = []
print(f"{'step':<16} {'base ns (range)':>24} {'head ns (range)':>24} {'head/base (range)':>22} {'head B':>7}  verdict")
for n in names:
    b = [x[n][0] for x in runs["base"]]; h = [x[n][0] for x in runs["head"]]
    ratios = [hh / bb for hh, bb in zip(h, b)]
    med = statistics.median(ratios)
    alloc = max(x[n][1] for x in runs["head"])
    slower = med > 1 + threshold and min(h) > max(b)
    verdict = "ALLOCATES" if alloc else ("SLOWER" if slower else ("faster" if med < 1 - threshold and max(h) < min(b) else "within noise"))
    if alloc or slower: bad.append(n)
    print(f"{n:<16} {statistics.median(b):>9.1f} ({min(b):.0f}-{max(b):.0f}){'':>2} {statistics.median(h):>9.1f} ({min(h):.0f}-{max(h):.0f}){'':>2} {med:>8.2f} ({min(ratios):.2f}-{max(ratios):.2f}) {alloc:>7}  {verdict}")
if missing: print("steps in one build only (not compared): " + ", ".join(missing))
if system:
    def ops(label):
        per = {}
        for r in range(1, rounds + 1):
            f = f"{work}/system-{label}-{r}.json"
            if not os.path.exists(f): continue
            for s in json.load(open(f))["systems"]: per.setdefault(s["system"], []).append(s["opsPerSecond"])
        return per
    ob, oh = ops("base"), ops("head")
    for s in ob:
        if s in oh and ob[s] and oh[s]:
            print(f"ycsb --system all, {s}: base {statistics.median(ob[s]):,.0f} ops/s, head {statistics.median(oh[s]):,.0f} ops/s, head/base {statistics.median(oh[s]) / statistics.median(ob[s]):.2f} (reported, not gated)")
if bad:
    print("regressed: " + ", ".join(bad))
    sys.exit(1)
print("no step regressed beyond the noise of this run; 0 B allocated by every step")
PY

#!/usr/bin/env bash
# The tracked public API of every shipped (packed) project: src/<project>/PublicAPI.Shipped.txt (released) and
# PublicAPI.Unshipped.txt (changed since). A build fails when the code's public API and these lists disagree
# (RS0016: public but not listed; RS0017: listed but gone).
# Usage: eng/public-api.sh check    build the shipped projects; exit 1 and list the differences when they disagree
#        eng/public-api.sh update   after an intended API change: add what is new to Unshipped, drop what is gone
#        eng/public-api.sh ship     at a release: move every Unshipped entry into Shipped
set -euo pipefail
cd "$(dirname "$0")/.."
projects=(Scalio.Verbs Scalio.Nvme Scalio.Offload Scalio.Fast Scalio.Cli)
mode=${1:-check}
log=$(mktemp); trap 'rm -f "$log"' EXIT
build() { # warnings, not errors, so that every project reports every difference in one pass
  for p in "${projects[@]}"; do
    dotnet build -c Release "src/$p" -p:TreatWarningsAsErrors=false --no-incremental 2>&1 || true
  done >"$log"
}
# Prints "project<TAB>symbol" for one rule's diagnostics.
differences() {
  grep -oE "$1: Symbol '.*' (is not part of the declared public API|is part of the declared API, but is either not public or could not be found).*\[[^]]*/src/[^/]+/" "$log" \
    | sed -E "s#^$1: Symbol '(.*)' is (not part|part) of the declared.*\[.*/src/([^/]+)/\$#\3\t\1#" | sort -u || true
}
case "$mode" in
  check)
    build
    added=$(differences RS0016); removed=$(differences RS0017)
    if [ -z "$added" ] && [ -z "$removed" ]; then echo "public API: matches the tracked lists"; exit 0; fi
    [ -n "$added" ] && { echo "public API added but not tracked (run eng/public-api.sh update if intended):"; echo "$added" | sed 's/^/  + /'; }
    [ -n "$removed" ] && { echo "public API tracked but gone:"; echo "$removed" | sed 's/^/  - /'; }
    exit 1 ;;
  update)
    build
    differences RS0016 | while IFS=$'\t' read -r project symbol; do printf '%s\n' "$symbol" >>"src/$project/PublicAPI.Unshipped.txt"; done
    differences RS0017 | while IFS=$'\t' read -r project symbol; do
      for f in "src/$project/PublicAPI.Shipped.txt" "src/$project/PublicAPI.Unshipped.txt"; do
        awk -v s="$symbol" '$0 != s' "$f" >"$f.tmp"; mv "$f.tmp" "$f"
      done
    done ;;
  ship)
    for p in "${projects[@]}"; do
      tail -n +2 "src/$p/PublicAPI.Unshipped.txt" >>"src/$p/PublicAPI.Shipped.txt"
      printf '#nullable enable\n' >"src/$p/PublicAPI.Unshipped.txt"
    done ;;
  *) echo "usage: eng/public-api.sh check|update|ship" >&2; exit 2 ;;
esac
# Keep each list sorted under its #nullable header, so diffs show one line per API change.
for p in "${projects[@]}"; do
  for f in "src/$p/PublicAPI.Shipped.txt" "src/$p/PublicAPI.Unshipped.txt"; do
    { printf '#nullable enable\n'; awk '!/^#nullable/ && NF' "$f" | LC_ALL=C sort -u; } >"$f.tmp"; mv "$f.tmp" "$f"
  done
done

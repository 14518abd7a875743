#!/usr/bin/env bash
# Issue 14 (projects that show the roles): the namespace and path renames of the Scalio.Verbs split, for branches
# merged after it. Rewrites every tracked text file (or the files given) in place; idempotent.
#   Scalio.Verbs.NvmeTcp -> Scalio.Nvme.Tcp    (src/Scalio.Verbs/NvmeTcp/ -> src/Scalio.Nvme/Tcp/)
#   Scalio.Verbs.Nvme    -> Scalio.Nvme        (src/Scalio.Verbs/Nvme/    -> src/Scalio.Nvme/, incl. .Generation)
#   Scalio.Verbs.Offload -> Scalio.Offload     (src/Scalio.Verbs/Offload/ -> src/Scalio.Offload/)
# Files still under the old folders on a merged branch move with:
#   git mv src/Scalio.Verbs/Nvme/X.cs src/Scalio.Nvme/   (NvmeTcp/* -> src/Scalio.Nvme/Tcp/, Offload/* -> src/Scalio.Offload/)
# Code in the new namespaces that used Scalio.Verbs types (WaitPolicy, ThreadCpuClock, MemoryRegion...) through the
# enclosing namespace needs `using Scalio.Verbs;`; the build names each one (CS0246).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then files=("$@"); else
  mapfile -t files < <(git ls-files | grep -E '\.(cs|md|txt|sh|csproj|props|targets|json|yml|yaml|py)$' | grep -v '^eng/rename-h14-split.sh$')
fi
perl -pi -e '
  s/\bScalio\.Verbs\.NvmeTcp\b/Scalio.Nvme.Tcp/g;
  s/\bScalio\.Verbs\.Nvme\b/Scalio.Nvme/g;
  s/\bScalio\.Verbs\.Offload\b/Scalio.Offload/g;
  s#\bsrc/Scalio\.Verbs/NvmeTcp/#src/Scalio.Nvme/Tcp/#g;
  s#\bsrc/Scalio\.Verbs/Nvme/#src/Scalio.Nvme/#g;
  s#\bsrc/Scalio\.Verbs/Offload/#src/Scalio.Offload/#g;
' "${files[@]}"

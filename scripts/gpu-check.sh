#!/usr/bin/env bash
# The GPU check: on a machine with a GPU (NVIDIA, through Vulkan and Dawn), the equivalence suite on
# WebGPU, then `pnpm bench:gpu` (MLP towers, CNN pair, Transformer text towers, MiniLM-sized BERT):
# the adapter, each step's time and memory, cached ÷ full. About 10 minutes at most.
#
#   bash scripts/gpu-check.sh              on the GPU machine (fails if the only adapter is a software one)
#   bash scripts/gpu-check.sh --dry-run    on any machine: Mesa's software Vulkan adapter, small sizes
#
# What it needs, and installs when it can: Node ≥ 20 and pnpm (a `.node/` folder carried beside the
# repository is put first on PATH), the workspace's packages (`pnpm install --frozen-lockfile`, from
# the npm registry), and the Vulkan loader (Debian's libvulkan1: from apt as root, or unpacked from
# `.gl/*.deb` carried beside the repository when there is no registry) plus a driver — NVIDIA's
# (its ICD file is found in the driver's folders) or, for the dry run, Mesa's (mesa-vulkan-drivers).
# Everything it prints also goes to $OUT/gpu-check.log (OUT defaults to ./gpu-check-out).
set -uo pipefail
cd "$(dirname "$0")/.."
DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
say() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'gpu-check: %s\n' "$*"
  exit 2
}
STARTED=$(date +%s)

say "machine"
date -u
uname -srm
nproc
[ -d .node/bin ] && export PATH="$PWD/.node/bin:$PATH"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

say "node and pnpm"
command -v node >/dev/null || fail "node is not installed: install Node ≥ 20 (nodejs.org, or Debian 13's nodejs), or carry its tarball unpacked as .node/"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || fail "node $(node -v) is too old: Node ≥ 20 is needed"
if ! command -v pnpm >/dev/null; then
  corepack enable 2>/dev/null || npm install -g pnpm@10 >/dev/null 2>&1 || fail "pnpm is missing and neither corepack nor npm could install it"
fi
echo "node $(node -v), pnpm $(pnpm -v)"
if [ ! -d node_modules/.pnpm ]; then
  pnpm install --frozen-lockfile || fail "pnpm install failed (is the npm registry reachable? otherwise run it where it is and carry node_modules)"
fi

say "Vulkan"
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  if compgen -G '.gl/*.deb' >/dev/null; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y --no-install-recommends libvulkan1 >/dev/null || apt-get update >/dev/null && apt-get install -y --no-install-recommends libvulkan1 >/dev/null
  fi
fi
ldconfig -p | grep -q 'libvulkan.so.1' || fail "no Vulkan loader (libvulkan.so.1): apt-get install libvulkan1, or carry its .deb in .gl/"
if [ "$DRY_RUN" = 1 ]; then
  if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y --no-install-recommends mesa-vulkan-drivers >/dev/null
  fi
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || fail "the dry run needs Mesa's software Vulkan driver: apt-get install mesa-vulkan-drivers"
  export VK_DRIVER_FILES
  VK_DRIVER_FILES=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json | head -1)
else
  for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
      export VK_DRIVER_FILES="$icd"
      break
    fi
  done
  [ -n "${VK_DRIVER_FILES:-}" ] || fail "no NVIDIA Vulkan driver file (nvidia_icd.json) found: is the NVIDIA driver installed with its Vulkan part?"
fi
echo "driver file: $VK_DRIVER_FILES"

say "the adapter"
[ "$DRY_RUN" = 1 ] && export GPU_CHECK_SOFTWARE=1
npx tsx --conditions=@gradcache/source benchmarks/src/gpu-adapter.ts || fail "WebGPU did not start on this adapter"

say "the equivalence suite on WebGPU"
GRADCACHE_REQUIRE_WEBGPU=1 timeout 240 npx vitest run test/src/webgpu.test.ts
SUITE=$?

say "pnpm bench:gpu"
if [ "$DRY_RUN" = 1 ]; then export BENCH_QUICK=1; fi
GRADCACHE_BACKEND=webgpu timeout 330 pnpm --silent bench:gpu
BENCH=$?

say "done in $(($(date +%s) - STARTED)) s: equivalence suite exit $SUITE, bench:gpu exit $BENCH"
[ "$SUITE" = 0 ] && [ "$BENCH" = 0 ]

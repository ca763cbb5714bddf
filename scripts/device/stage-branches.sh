#!/usr/bin/env bash
# Packs branches for one device call (scripts/device/branches-call.sh): .device/branches/NAME.tar.xz
# holds what a branch's native build and GPU tests read (cuda/, src/, test/gpu, test/helpers and the
# config files; about 0.2 MB each — test/fixtures and gguf/ are linked from the checkout there).
#   bash scripts/device/stage-branches.sh sampled-step attention-groups mma-stages
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || { echo "usage: stage-branches.sh BRANCH…" >&2; exit 1; }
rm -rf .device/branches && mkdir -p .device/branches
for b in "$@"; do
  git rev-parse --verify -q "$b" > /dev/null || { echo "stage-branches: no branch $b" >&2; exit 1; }
  git archive --format=tar "$b" cuda src test/gpu test/helpers package.json tsconfig.json vitest.config.ts | xz -T2 -6 > ".device/branches/$b.tar.xz"
  echo "stage-branches: $b $(git rev-parse --short "$b") $(du -h ".device/branches/$b.tar.xz" | cut -f1)"
done

#!/usr/bin/env bash
# On the GPU machine, one call for several branches (scripts/device/stage-branches.sh packed them;
# carry .device/branches, .device/runtime.txz, .device/boot.sh and, on a cold machine,
# .device/node.xz). For each .device/branches/NAME.tar.xz: unpacked into /tmp/br/NAME (node_modules,
# gguf/ and test/fixtures linked from this checkout), libmtp and cuda-kernels-check built for sm_90,
# the kernel check ($OUT/NAME-kernels.txt; its failures printed) and the GPU tests with the branch's
# libmtp ($OUT/NAME-tests.txt). The branches' builds stay in /tmp/br/NAME/cuda/build for the
# experiments of the same call or the next one (e.g. MTP_ATTN_GB=3
# /tmp/br/attention-groups/cuda/build/cuda-kernels-check bench attention). BUILD_ONLY="main …":
# those branches are only built (a baseline for the others' experiments).
set -uo pipefail
source .device/boot.sh
bash scripts/device/unpack-runtime.sh > /dev/null
source scripts/device/build.sh
here=$PWD
for tarball in .device/branches/*.tar.xz; do
  name=$(basename "$tarball" .tar.xz)
  dir=/tmp/br/$name
  rm -rf "$dir" && mkdir -p "$dir/test" && tar xJf "$tarball" -C "$dir"
  ln -sfn "$here/node_modules" "$dir/node_modules"
  ln -sfn "$here/gguf" "$dir/gguf"
  ln -sfn "$here/test/fixtures" "$dir/test/fixtures"
  echo "=== $name"
  build_sm90 "$dir/cuda" "$dir/cuda/build" 16 mtp cuda-kernels-check
  case " ${BUILD_ONLY:-} " in *" $name "*) echo "(built only)"; continue ;; esac
  "$dir/cuda/build/cuda-kernels-check" > "$OUT/$name-kernels.txt" 2>&1
  grep -E "^FAIL|failure" "$OUT/$name-kernels.txt" | head -20
  (cd "$dir" && MTP_LIB="$dir/cuda/build/libmtp.so" node node_modules/vitest/vitest.mjs run test/gpu > "$OUT/$name-tests.txt" 2>&1)
  grep -E "×|FAIL|Tests |µs/token|K=[0-9]:" "$OUT/$name-tests.txt" | head -24
done

# Sourced by the device scripts: the sm_90 Release build of a cuda/ tree, printing only its errors
# and warnings.
#   build_sm90 SRC BUILD JOBS TARGET...   one tree
#   build_with_base TARGET...             the working tree's (cuda/build) and the baseline's that
#                                         stage-base.sh packed (.device/base-cuda.tar.xz, unpacked
#                                         into /tmp/base; /tmp/base/build), side by side, -j 8 each
build_sm90() {
  local src=$1 build=$2 jobs=$3
  shift 3
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMTP_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 > /dev/null &&
    cmake --build "$build" -j "$jobs" --target "$@" 2>&1 | grep -E "error|warning"
  return 0
}
build_with_base() {
  rm -rf /tmp/base && mkdir -p /tmp/base && tar xJf .device/base-cuda.tar.xz -C /tmp/base
  build_sm90 /tmp/base/cuda /tmp/base/build 8 "$@" &
  build_sm90 cuda cuda/build 8 "$@"
  wait
  echo "built $(date +%T)"
}

// MTP_HOT: a function compiled twice (target_clones), an x86-64-v3 (AVX2, FMA, F16C) version picked
// at run time on CPUs that have it, and a portable default. The build uses -ffp-contract=off, so both
// versions round identically (no fused multiply-adds appear) and a vectorized loop computes each
// element with the scalar loop's operations.
#pragma once

// target_clones needs GCC and the loader's ifunc support (glibc).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
#define MTP_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MTP_HOT
#endif

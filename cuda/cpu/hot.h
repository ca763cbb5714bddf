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

// MTP_CORE_AVX2: hand-written AVX2 + FMA + F16C versions of the attention and Gated DeltaNet cores
// (MTP_AVX2 functions), taken where core_avx2() says the CPU has them; each computes every result
// with the portable loop's operations in its order.
#if defined(__x86_64__) && defined(__GNUC__)
#define MTP_CORE_AVX2 1
#define MTP_AVX2 __attribute__((target("avx2,fma,f16c")))

inline bool core_avx2() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return yes;
}
#endif

// See q8_0-packed.h.
#include "q8_0-packed.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "ggml-quants.h"

#ifdef __linux__
#include <sys/mman.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MTP_PACKED_KERNELS 1
// The masked (maskz) conversions below only avoid GCC 12's false -Wmaybe-uninitialized on the
// unmasked intrinsics; every lane is converted.
#define MTP_VNNI512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")))
#endif

namespace mtp {

namespace {

constexpr int kRows = 16;                     // weight rows per group (one zmm of int32 lanes)
constexpr size_t kQuadBytes = 8 * kRows * 4;  // one block's 32 values of 16 rows
// Software prefetch distance into the quads (4 blocks ahead, across group ends: the groups are
// contiguous). The hardware prefetcher alone leaves a core's weight stream from L3 about 25 %
// slower at 3–4 activation rows (measured on Xeon 4th/5th gen).
constexpr size_t kPrefetch = 2048;

}  // namespace

bool packing_supported() {
#ifdef MTP_PACKED_KERNELS
    static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
                            __builtin_cpu_supports("f16c") && !std::getenv("MTP_NO_VNNI");
    return yes;
#else
    return false;
#endif
}

namespace {

#ifdef MTP_PACKED_KERNELS
typedef int32_t UnalignedI32 __attribute__((may_alias, aligned(1)));

// acc (16 rows) over blocks in order; per activation a and block b: the integer sum from 8 vpdpbusd
// (two chains, added exactly), then acc += (d_w · d_x) · isum as vec_dot's scalar loop does.
MTP_VNNI512 void rows16_vnni512(const PackedQ8_0& p, int64_t g0, int64_t g1, const BlockQ8_0* const* xs,
                                const float* dx, const int32_t* corr, int na, float* y, size_t y_stride) {
    const int64_t nb = p.nb;
    for (int64_t g = g0; g < g1; g++) {
        const uint16_t* sc = p.scales + static_cast<size_t>(g) * nb * kRows;
        const uint8_t* qd = p.quads + static_cast<size_t>(g) * nb * kQuadBytes;
        __m512 acc[8];
        for (int a = 0; a < na; a++) acc[a] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const __m512 dw = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(sc + b * kRows)));
            __m512i w[8];
            for (int q = 0; q < 8; q++) {
                _mm_prefetch(reinterpret_cast<const char*>(qd + b * kQuadBytes + q * 64 + kPrefetch), _MM_HINT_T0);
                w[q] = _mm512_load_si512(qd + b * kQuadBytes + q * 64);
            }
            for (int a = 0; a < na; a++) {
                // The activation's 4-value groups broadcast straight from memory (a load, not a
                // shuffle-port uop).
                const auto* x4 = reinterpret_cast<const UnalignedI32*>(xs[a][b].qs);
                __m512i i0 = _mm512_set1_epi32(corr[a * nb + b]), i1 = _mm512_setzero_si512();
                for (int q = 0; q < 4; q++) {
                    i0 = _mm512_dpbusd_epi32(i0, w[q], _mm512_set1_epi32(x4[q]));
                    i1 = _mm512_dpbusd_epi32(i1, w[q + 4], _mm512_set1_epi32(x4[q + 4]));
                }
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(dx[a * nb + b]));
                acc[a] = _mm512_add_ps(acc[a], _mm512_mul_ps(scale, _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_add_epi32(i0, i1))));
            }
        }
        for (int a = 0; a < na; a++) _mm512_storeu_ps(y + a * y_stride + g * kRows, acc[a]);
    }
}
#endif

}  // namespace

size_t pack_q8_0_bytes(int64_t n_rows, int64_t nb) {
    const int64_t n_groups = n_rows / kRows;
    const size_t scale_bytes = static_cast<size_t>(n_groups) * nb * kRows * sizeof(uint16_t);
    return (scale_bytes + 63) / 64 * 64 + static_cast<size_t>(n_groups) * nb * kQuadBytes;
}

PackedQ8_0 pack_q8_0(const uint8_t* rows, size_t row_bytes, int64_t n_rows, int64_t nb, uint8_t* dst) {
    PackedQ8_0 p;
    p.n_groups = n_rows / kRows;
    p.nb = nb;
    const size_t scale_bytes = static_cast<size_t>(p.n_groups) * nb * kRows * sizeof(uint16_t);
    auto* scales = reinterpret_cast<uint16_t*>(dst);
    uint8_t* quads = dst + (scale_bytes + 63) / 64 * 64;
    for (int64_t g = 0; g < p.n_groups; g++) {
        for (int64_t b = 0; b < nb; b++) {
            uint16_t* sc = scales + (static_cast<size_t>(g) * nb + b) * kRows;
            uint8_t* qd = quads + (static_cast<size_t>(g) * nb + b) * kQuadBytes;
            for (int r = 0; r < kRows; r++) {
                const auto* block = reinterpret_cast<const BlockQ8_0*>(rows + (g * kRows + r) * row_bytes) + b;
                sc[r] = block->d;
                for (int q = 0; q < 8; q++) {
                    for (int j = 0; j < 4; j++) qd[q * 64 + r * 4 + j] = static_cast<uint8_t>(block->qs[4 * q + j] + 128);
                }
            }
        }
    }
    p.scales = scales;
    p.quads = quads;
    return p;
}

PackedWeights::PackedWeights(const ModelWeights& w) {
    if (!packing_supported()) return;
    std::vector<const Tensor*> todo;
    auto want = [&](const Tensor& t) {
        const bool matrix = t.ne[2] == 1 && t.ne[3] == 1;  // expert stacks stay in the file layout
        if (t.present && t.type == 8 /* Q8_0 */ && matrix && t.ne[1] >= kRows &&
            std::find(todo.begin(), todo.end(), &t) == todo.end()) {
            todo.push_back(&t);
        }
    };
    want(w.lm_head());
    for (const LayerWeights& L : w.layers) {
        for (const Tensor& t : L.by_role) want(t);
    }
    size_t total = 0;
    for (const Tensor* t : todo) total += pack_q8_0_bytes(t->ne[1], t->ne[0] / QK8_0);
    if (total == 0) return;
    // One arena in 2 MiB pages where the kernel gives them: a decode step streams every matrix, and
    // with 4 KiB pages that is a TLB miss every 4 KiB.
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t bytes = (total + kHuge - 1) / kHuge * kHuge;
    void* mem = std::aligned_alloc(kHuge, bytes);
    if (!mem) throw std::bad_alloc();
    arena_ = {static_cast<uint8_t*>(mem), std::free};
#ifdef __linux__
    madvise(mem, bytes, MADV_HUGEPAGE);  // advice only: without transparent huge pages nothing changes
#endif
    uint8_t* at = arena_.get();
    for (const Tensor* t : todo) {
        const int64_t nb = t->ne[0] / QK8_0;
        packed_.emplace(t, pack_q8_0(t->data, t->row_bytes, t->ne[1], nb, at));
        at += pack_q8_0_bytes(t->ne[1], nb);
    }
}

void prepare_packed_activation(const uint8_t* act, size_t act_stride, int n_act, int64_t nb, float* dx, int32_t* corr) {
    for (int a = 0; a < n_act; a++) {
        const auto* x = reinterpret_cast<const BlockQ8_0*>(act + a * act_stride);
        for (int64_t b = 0; b < nb; b++) {
            int32_t sum = 0;
            for (int j = 0; j < QK8_0; j++) sum += x[b].qs[j];
            dx[a * nb + b] = f16_to_f32(x[b].d);
            corr[a * nb + b] = -128 * sum;
        }
    }
}

void packed_q8_0_rows(const PackedQ8_0& p, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride, int n_act,
                      const float* dx, const int32_t* corr, float* y, size_t y_stride) {
#ifdef MTP_PACKED_KERNELS
    const BlockQ8_0* xs[8] = {};
    for (int a = 0; a < n_act; a++) xs[a] = reinterpret_cast<const BlockQ8_0*>(act + a * act_stride);
    rows16_vnni512(p, g0, g1, xs, dx, corr, n_act, y, y_stride);
#else
    (void)p, (void)g0, (void)g1, (void)act, (void)act_stride, (void)n_act, (void)dx, (void)corr, (void)y, (void)y_stride;
#endif
}

}  // namespace mtp

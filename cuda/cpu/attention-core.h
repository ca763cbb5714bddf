// The attention core of the CPU backend: one row's gated attention for the query heads that share
// a KV head, in the summation order of attention-order.h (the CUDA kernels', attention.cu, follow
// it to the bit), over the F16 caches of qwen35-cpu.h — K transposed (D, n_ctx) per KV head, so the
// scores of consecutive positions are computed side by side; V (n_ctx, H_kv, D).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attention-order.h"

namespace mtp {

// Per-thread buffers of attend_group for `group` heads of D dims and rows of up to max_kv positions.
struct AttnWork {
    AttnWork(uint32_t group, uint32_t D, size_t max_kv);
    uint32_t group;
    size_t w_stride;                     // max_kv
    std::vector<float> q16, w;           // (group, D) F16-rounded queries; (group, max_kv) scores, then weights
    std::vector<float> m, alpha, oc;     // long rows: (group, chunks) m_c and α_c; (group, D) o_c
    std::vector<double> l, total;        // (group, chunks) l_c; (group) Σ α_c · l_c
};

// o (group, D) = gated attention of the group's queries q (group, D: normed and rotated, not yet
// rounded) over positions 0 … n_kv − 1 of one KV head's keys kt (D, n_ctx) and values vc (row p at
// vc + p·vstride), each head's output times σ(gate) (gate: the group's gate halves, gate_stride apart).
void attend_group(AttnWork& work, const float* q, const float* gate, size_t gate_stride, const uint16_t* kt, size_t n_ctx,
                  const uint16_t* vc, size_t vstride, uint32_t D, uint32_t n_kv, float* o);

}  // namespace mtp

// The summation order of gated attention that both backends follow (cpu/qwen35-cpu.cpp,
// src/kernels/attention.cu), so that they agree to the bit:
//  - a row attending at most kAttnChunk positions: llama.cpp's non-flash order — softmax over all
//    scores (max subtracted, the sum in double), weights rounded to F16, o[d] = Σ_p w_p · V_p[d] in
//    position order;
//  - a longer row, in chunks c of kAttnChunk positions from position 0 (flash decoding): m_c = the
//    chunk's largest score, e_p = exp(s_p − m_c), l_c = Σ e_p in double, o_c[d] = Σ_p e_p · V_p[d] in
//    position order; then M = max m_c, α_c = exp(m_c − M), L = Σ_c α_c · l_c in double and
//    o[d] = (Σ_c α_c · o_c[d]) / L, the chunks in order.
// The chunks are fixed by position, so a row's arithmetic depends on its own length only, not on
// its batch; the chunks of a long row can be computed in parallel.
#pragma once

namespace mtp {

constexpr int kAttnChunk = 512;

}  // namespace mtp

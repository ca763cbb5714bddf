// Q8_0 weight matrices repacked for AVX512-VNNI, so that one vpdpbusd serves 16 weight rows and a
// block's integer dot product needs no horizontal reduction (the row-major layout spends most of a
// decode step's instructions summing lanes). Built once per model, on first use by a CPU session;
// without AVX512-VNNI nothing is packed and the row-major kernels of ggml-quants.cpp run.
//
// Layout of one matrix (ne[0] = n values per row, nb = n / 32 blocks, groups of 16 rows):
//   scales (n_groups, nb, 16)         f16, row r's block scale d
//   quads  (n_groups, nb, 8, 16, 4)   u8, row r's values 4q..4q+3 of the block, each stored as w + 128
// The n_rows % 16 rows after the last group stay in the file's layout.
//
// Arithmetic per (weight row, activation row): Σ (w + 128)·x − 128·Σx is the block's exact integer
// sum, and the float accumulation sum += (d_w · d_x) · isum runs over the blocks in order: bitwise
// the result of vec_dot (ggml-quants.h), whatever the number of activation rows or threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "../src/runtime/weights.h"

namespace mtp {

// A packed matrix: a view into storage its owner keeps (PackedWeights' arena).
struct PackedQ8_0 {
    int64_t n_groups = 0;              // full groups of 16 rows
    int64_t nb = 0;                    // blocks per row
    const uint16_t* scales = nullptr;  // (n_groups, nb, 16)
    const uint8_t* quads = nullptr;    // (n_groups, nb, 8, 16, 4)
};

// Whether this CPU runs the packed kernels (AVX512-VNNI; MTP_NO_VNNI=1 in the environment says no).
bool packing_supported();

// Bytes the packed form of an n_rows × (nb blocks) Q8_0 matrix takes.
size_t pack_q8_0_bytes(int64_t n_rows, int64_t nb);
// Packs rows [0, 16·⌊n_rows/16⌋) of a Q8_0 matrix (rows row_bytes apart, nb blocks each) into dst
// (64-byte aligned, pack_q8_0_bytes long).
PackedQ8_0 pack_q8_0(const uint8_t* rows, size_t row_bytes, int64_t n_rows, int64_t nb, uint8_t* dst);

// Every Q8_0 matrix of a model with at least 16 rows, packed; empty where the CPU lacks AVX512-VNNI.
class PackedWeights {
public:
    explicit PackedWeights(const ModelWeights& w);
    // nullptr: use the file's layout.
    const PackedQ8_0* find(const Tensor& t) const {
        const auto it = packed_.find(&t);
        return it == packed_.end() ? nullptr : &it->second;
    }

private:
    std::unique_ptr<uint8_t[], void (*)(void*)> arena_{nullptr, nullptr};  // every packed matrix
    std::unordered_map<const Tensor*, PackedQ8_0> packed_;
};

// What the kernel needs of each activation block besides its values, computed once per activation
// (not per call of packed_q8_0_rows): dx (n_act, nb) its scale as F32, corr (n_act, nb) −128 · Σ of
// its values (the kernel stores the weights as w + 128).
void prepare_packed_activation(const uint8_t* act, size_t act_stride, int n_act, int64_t nb, float* dx, int32_t* corr);

// y[a · y_stride + r] for rows r of groups g0..g1-1 (r = 16·g …) and activation rows a < n_act
// (Q8_0 blocks, act_stride bytes apart, n_act <= 8; dx / corr of those rows, nb apart).
void packed_q8_0_rows(const PackedQ8_0& p, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride, int n_act,
                      const float* dx, const int32_t* corr, float* y, size_t y_stride);

}  // namespace mtp

/*
 * q8_0-packed-test — the AVX512-VNNI kernel over repacked Q8_0 weights (cpu/q8_0-packed.h) gives
 * bitwise the results of the row-major vec_dot (cpu/ggml-quants.h) for every weight row and
 * activation row: random matrices, row counts that leave a ragged tail after the 16-row groups,
 * 1..8 activation rows, and extreme values (−128 weights, ±127 activations, zero blocks).
 * Prints "skipped" and succeeds on a CPU without AVX512-VNNI (nothing is packed there).
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "../cpu/ggml-quants.h"
#include "../cpu/q8_0-packed.h"
#include "check.h"

using namespace mtp;

int main() {
    if (!packing_supported()) {
        std::printf("skipped: this CPU has no AVX512-VNNI (or MTP_NO_VNNI is set)\n");
        return 0;
    }
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> U(-2.0f, 2.0f);
    const int64_t shapes[][2] = {{64, 16}, {384, 1024}, {1024, 40}, {96, 33}, {4096, 17}};  // (n_in, n_out)
    for (const auto& shape : shapes) {
        const int64_t n_in = shape[0], n_out = shape[1], nb = n_in / QK8_0;
        const size_t row_bytes = static_cast<size_t>(nb) * sizeof(BlockQ8_0);
        std::vector<uint8_t> w(row_bytes * n_out), act(row_bytes * 8);
        std::vector<float> x(n_in);
        for (int64_t r = 0; r < n_out; r++) {
            for (float& v : x) v = U(rng);
            quantize_activation_row(8, x.data(), w.data() + r * row_bytes, n_in);
        }
        // Extremes: a row of −128 weights, a zero block.
        auto* b0 = reinterpret_cast<BlockQ8_0*>(w.data());
        std::memset(b0->qs, 0x80, sizeof b0->qs);
        std::memset(reinterpret_cast<BlockQ8_0*>(w.data() + row_bytes)->qs, 0, QK8_0);
        for (int a = 0; a < 8; a++) {
            for (int64_t i = 0; i < n_in; i++) x[i] = a == 0 ? (i % 2 ? 1.0f : -1.0f) : U(rng);
            quantize_activation_row(8, x.data(), act.data() + a * row_bytes, n_in);
        }
        const size_t packed_bytes = (pack_q8_0_bytes(n_out, nb) + 63) / 64 * 64;
        std::unique_ptr<uint8_t[], void (*)(void*)> storage{static_cast<uint8_t*>(std::aligned_alloc(64, packed_bytes)), std::free};
        const PackedQ8_0 p = pack_q8_0(w.data(), row_bytes, n_out, nb, storage.get());
        CHECK(p.n_groups == n_out / 16, "groups: expected %lld, got %lld", static_cast<long long>(n_out / 16),
              static_cast<long long>(p.n_groups));
        for (int n_act = 1; n_act <= 8; n_act++) {
            std::vector<float> y(static_cast<size_t>(n_act) * n_out, -1.0f);
            std::vector<float> dx(static_cast<size_t>(n_act) * nb);
            std::vector<int32_t> corr(static_cast<size_t>(n_act) * nb);
            prepare_packed_activation(act.data(), row_bytes, n_act, nb, dx.data(), corr.data());
            packed_q8_0_rows(p, 0, p.n_groups, act.data(), row_bytes, n_act, dx.data(), corr.data(), y.data(),
                             static_cast<size_t>(n_out));
            int bad = 0;
            for (int a = 0; a < n_act; a++) {
                for (int64_t r = 0; r < p.n_groups * 16; r++) {
                    const float ref = vec_dot(8, w.data() + r * row_bytes, act.data() + a * row_bytes, n_in);
                    if (std::memcmp(&ref, &y[a * n_out + r], sizeof ref) != 0) bad++;
                }
                for (int64_t r = p.n_groups * 16; r < n_out; r++) bad += y[a * n_out + r] != -1.0f;  // tail untouched
            }
            CHECK(bad == 0, "n_in %lld n_out %lld n_act %d: %d results differ from vec_dot", static_cast<long long>(n_in),
                  static_cast<long long>(n_out), n_act, bad);
        }
    }
    if (failures) return 1;
    std::printf("all packed Q8_0 checks passed\n");
    return 0;
}

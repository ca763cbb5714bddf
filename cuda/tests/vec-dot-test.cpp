/*
 * vec-dot-test — every weight type's dot product against its own dequantization, run by
 * test/native/decode-loop.test.ts. Dequantization is checked bit-exact against gguf-py elsewhere
 * (test/native/dequantize.test.ts); this closes the loop for the products: for random blocks w and
 * a random activation row x, vec_dot(w, act(x)) must equal Σ dequant(w)_i · dequant(act(x))_i
 * (the activation in the format the type pairs with: Q8_0, Q8_1 or Q8_K), computed in double, to
 * float rounding (relative 1e-6 of Σ |terms|). A wrong value order, scale, offset or min term is off
 * by far more. Q4_1 / Q5_1 multiply their min by the activation block's stored s = f16(d · Σ q), as
 * the format prescribes, so the reference takes that term from s too.
 */
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../cpu/ggml-quants.h"
#include "check.h"

using namespace mtp;

// The activation row's values as the dot product sees them.
static std::vector<double> activation_values(uint32_t type, const std::vector<uint8_t>& act, int64_t n) {
    std::vector<double> v(static_cast<size_t>(n));
    switch (type) {
        case 3: case 7: {  // Q8_1
            const BlockQ8_1* b = reinterpret_cast<const BlockQ8_1*>(act.data());
            for (int64_t i = 0; i < n; i++) v[i] = static_cast<double>(f16_to_f32(b[i / 32].d)) * b[i / 32].qs[i % 32];
            break;
        }
        case 2: case 6: case 8: case 20: case 39: {  // Q8_0
            const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(act.data());
            for (int64_t i = 0; i < n; i++) v[i] = static_cast<double>(f16_to_f32(b[i / 32].d)) * b[i / 32].qs[i % 32];
            break;
        }
        default: {  // Q8_K
            const BlockQ8_K* b = reinterpret_cast<const BlockQ8_K*>(act.data());
            for (int64_t i = 0; i < n; i++) v[i] = static_cast<double>(b[i / 256].d) * b[i / 256].qs[i % 256];
        }
    }
    return v;
}

int main() {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(0, 255);
    std::normal_distribution<float> g(0.0f, 1.0f);
    const int64_t n = 1024;
    for (uint32_t type : {2u, 3u, 6u, 7u, 10u, 11u, 12u, 13u, 14u, 16u, 17u, 18u, 20u, 21u, 22u, 23u, 39u}) {
        const TypeTraits* tt = type_traits(type);
        CHECK(tt != nullptr, "type %u is executed", type);
        if (!tt) continue;
        double worst = 0.0;
        for (int trial = 0; trial < 20; trial++) {
            std::vector<uint8_t> w(static_cast<size_t>(n / tt->block_elems) * tt->block_bytes);
            for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
            // Finite, moderate f16 scales: overwrite every 16-bit field that is a scale with one.
            const size_t bb = tt->block_bytes;
            for (size_t blk = 0; blk < w.size() / bb; blk++) {
                uint8_t* p = &w[blk * bb];
                const uint16_t h = f32_to_f16(0.01f + 0.05f * std::fabs(g(rng)));
                const uint16_t h2 = f32_to_f16(0.01f + 0.05f * std::fabs(g(rng)));
                switch (type) {
                    case 2: case 6: case 16: case 17: case 18: case 20: case 21: case 22: case 23: std::memcpy(p, &h, 2); break;  // d first
                    case 3: case 7: case 12: case 13: std::memcpy(p, &h, 2); std::memcpy(p + 2, &h2, 2); break;
                    case 10: std::memcpy(p + 80, &h, 2); std::memcpy(p + 82, &h2, 2); break;
                    case 11: std::memcpy(p + 108, &h, 2); break;
                    case 14: std::memcpy(p + 208, &h, 2); break;
                    case 39: p[0] = static_cast<uint8_t>(120 + trial % 10); break;     // E8M0 exponent near 1
                    default: break;
                }
            }
            std::vector<float> x(static_cast<size_t>(n)), wf(static_cast<size_t>(n));
            for (auto& v : x) v = g(rng);
            std::vector<uint8_t> act(activation_row_bytes(type, n));
            quantize_activation_row(type, x.data(), act.data(), n);
            dequantize_row(type, w.data(), wf.data(), n);
            const std::vector<double> av = activation_values(type, act, n);
            double exact = 0.0, mag = 0.0;
            for (int64_t i = 0; i < n; i++) {
                exact += static_cast<double>(wf[i]) * av[i];
                mag += std::fabs(static_cast<double>(wf[i]) * av[i]);
            }
            if (type == 3 || type == 7) {  // the min term through the stored s
                const BlockQ8_1* a = reinterpret_cast<const BlockQ8_1*>(act.data());
                for (int64_t b = 0; b < n / 32; b++) {
                    uint16_t mh;
                    std::memcpy(&mh, &w[static_cast<size_t>(b) * bb + 2], 2);
                    int32_t sum = 0;
                    for (int i = 0; i < 32; i++) sum += a[b].qs[i];
                    const double m = f16_to_f32(mh);
                    exact += m * (static_cast<double>(f16_to_f32(a[b].s)) - static_cast<double>(f16_to_f32(a[b].d)) * sum);
                }
            }
            const double got = vec_dot(type, w.data(), act.data(), n);
            worst = std::max(worst, std::fabs(got - exact) / (mag > 0 ? mag : 1.0));
        }
        CHECK(worst <= 1e-6, "%s: vec_dot vs its dequantization: relative error %.2e", tt->name, worst);
        std::printf("ok vec_dot %-7s == Σ dequant(w)·dequant(act) (worst relative error %.1e)\n", tt->name, worst);
    }
    if (failures) {
        std::printf("%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("all vec_dot checks passed\n");
    return 0;
}

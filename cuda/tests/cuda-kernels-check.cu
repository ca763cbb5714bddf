// Per-family check of the CUDA kernels against the CPU backend's reference arithmetic
// (cpu/ggml-quants.h), run on a GPU machine: cuda/build/cuda-kernels-check (exit status 0 = pass).
//   - matvec, every weight type: bitwise equal to the CPU's vec_dot on the same converted activation
//     (F32, whose CPU summation order depends on the ISA: within 1e-5 of the row's Σ|w·x|), and
//     bitwise the same for 1..8 rows; the low-bit types (matvec-lowbit.cuh) also as expert matvecs;
//   - the embedding lookup of every type: bitwise equal to the CPU's dequantize_row;
//   - the Q8_0 tensor-core GEMM over ragged and full tiles: bitwise equal to the matvec row by row,
//     and its time at a 27B prefill shape against 8-row matvecs (as the K-quants' prefill runs);
//   - MoE routing and grouping: the experts chosen, the groups (every pair once, each group one
//     expert), and every pair's expert output bitwise equal to a 1-row matvec on that expert's rows;
//   - rms_norm against a double-accumulated reference; argmax with ties; the sampling candidates
//     (top-k logits) against the host's, ties, NaN and −inf rows included;
//   - conv1d + Gated DeltaNet and q/k norm + rope over several tokens, against scalar references
//     written from the CPU backend's loops (cpu/qwen35-cpu.cpp); gated attention against the CPU
//     backend's own (cpu/attention-core.h), short rows and rows summed in 512-position chunks, and
//     each row alone;
//   - the device's copy bandwidth, and that of the decode-shaped matvecs (27B-sized FFN and LM-head
//     matrices, 1..8 rows) against it;
//   - the time of each kernel at tiny-code's and at the 35B-A3B shape's decode shapes, launched from
//     a graph as a decode step launches it (where a step's time goes, and what verify rows add), and
//     of gated attention at the 27B shape over contexts up to 32768 positions.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "../cpu/attention-core.h"
#include "../cpu/ggml-quants.h"
#include "../cpu/iq-grids.h"
#include "../cpu/vec-math.h"
#include "../src/kernels/argmax.cuh"
#include "../src/kernels/attention.cuh"
#include "../src/kernels/conv1d.cuh"
#include "../src/kernels/embed.cuh"
#include "../src/kernels/gated-delta-net.cuh"
#include "../src/kernels/gemm.cuh"
#include "../src/kernels/matvec.cuh"
#include "../src/kernels/moe.cuh"
#include "../src/kernels/rms-norm.cuh"
#include "../src/kernels/rope.cuh"
#include "../src/kernels/sample.cuh"
#include "../src/kernels/swiglu.cuh"
#include "../src/kernels/top-logits.cuh"

namespace {

using namespace mtp;
using namespace mtp::cuda;

int failures = 0;

#define CHECK_CUDA(call)                                                                                   \
    do {                                                                                                   \
        const cudaError_t e_ = (call);                                                                     \
        if (e_ != cudaSuccess) {                                                                           \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));  \
            std::exit(2);                                                                                  \
        }                                                                                                  \
    } while (0)

void expect(bool ok, const char* what) {
    if (!ok) failures++;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
}

template <typename T>
T* to_device(const std::vector<T>& v) {
    T* d = nullptr;
    CHECK_CUDA(cudaMalloc(&d, std::max<size_t>(1, v.size() * sizeof(T))));
    CHECK_CUDA(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

// n zeroed elements on the device.
template <typename T>
T* device_zeros(size_t n) {
    T* d = nullptr;
    CHECK_CUDA(cudaMalloc(&d, std::max<size_t>(1, n * sizeof(T))));
    CHECK_CUDA(cudaMemset(d, 0, n * sizeof(T)));
    return d;
}

// Random rows of a weight type in the file's layout (scales kept in a sane range).
std::vector<uint8_t> random_rows(uint32_t type, int k, int n, std::mt19937& rng) {
    const TypeTraits* tt = type_traits(type);
    const size_t row_bytes = static_cast<size_t>(k) / tt->block_elems * tt->block_bytes;
    std::vector<uint8_t> bytes(row_bytes * n);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::uniform_int_distribution<int> byte(0, 255);
    if (type == 0 || type == 1 || type == 30) {
        for (size_t i = 0; i < static_cast<size_t>(k) * n; i++) {
            const float v = u(rng);
            if (type == 0) std::memcpy(&bytes[4 * i], &v, 4);
            const uint16_t h = type == 1 ? f32_to_f16(v) : f32_to_bf16(v);
            if (type != 0) std::memcpy(&bytes[2 * i], &h, 2);
        }
        return bytes;
    }
    for (size_t i = 0; i < bytes.size(); i += 4) {  // four random bytes a draw: the 27B LM head is 1 GB
        const uint32_t r = rng();
        std::memcpy(&bytes[i], &r, std::min<size_t>(4, bytes.size() - i));
    }
    // Overwrite the block scales with small positive values (random bits could be inf or NaN): the
    // f16 d (and dmin) where each type keeps them; MXFP4's E8M0 exponent in 2^-9 … 2^-3.
    int d_at = 0, dmin_at = -1;
    switch (type) {
        case 12: case 13: dmin_at = 2; break;
        case 14: d_at = 208; break;
        case 10: d_at = 80, dmin_at = 82; break;
        case 11: d_at = 108; break;
        default: break;  // Q8_0, Q4_0, Q5_0, IQ4_NL, IQ4_XS, IQ2_*, IQ3_*: d first
    }
    const size_t nblocks = bytes.size() / tt->block_bytes;
    for (size_t i = 0; i < nblocks; i++) {
        uint8_t* blk = &bytes[i * tt->block_bytes];
        const uint16_t d = f32_to_f16(0.001f + 0.01f * std::fabs(u(rng)));
        const uint16_t dmin = f32_to_f16(0.001f + 0.01f * std::fabs(u(rng)));
        if (type == 39) {
            blk[0] = static_cast<uint8_t>(118 + byte(rng) % 7);
            continue;
        }
        std::memcpy(blk + d_at, &d, 2);
        if (dmin_at >= 0) std::memcpy(blk + dmin_at, &dmin, 2);
    }
    return bytes;
}

DevMatrix upload_matrix(uint32_t type, const std::vector<uint8_t>& rows, int k, int n) {
    const TypeTraits* tt = type_traits(type);
    DevMatrix m;
    m.type = type;
    m.k = k;
    m.n = n;
    m.row_bytes = static_cast<size_t>(k) / tt->block_elems * tt->block_bytes;
    if (repacked(type)) {
        const RepackedMatrix r = repack_matrix(type, rows.data(), m.row_bytes, k, n);
        m.data = to_device(r.data);
        m.scale = to_device(r.scale);
        m.row_bytes = r.row_bytes;
    } else {
        m.data = to_device(rows);
    }
    return m;
}

ActView device_act(int k, int rows = kMaxRows) {
    ActView a{};
    a.k = k;
    const size_t n = static_cast<size_t>(rows);
    CHECK_CUDA(cudaMalloc(&a.f, sizeof(float) * n * k));
    CHECK_CUDA(cudaMalloc(&a.q, n * k));
    CHECK_CUDA(cudaMalloc(&a.d, sizeof(float) * n * (k / 32 + 1)));
    return a;
}

// rows × k standard-normal activation rows on the device (their floats also in x), converted as a
// matrix of weight_type wants them.
ActView random_act(uint32_t weight_type, int k, int rows, std::mt19937& rng, std::vector<float>& x) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    x.resize(static_cast<size_t>(rows) * k);
    for (auto& v : x) v = g(rng);
    ActView a = device_act(k, rows);
    CHECK_CUDA(cudaMemcpy(a.f, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
    CHECK_CUDA(launch_quantize(nullptr, a, rows, act_format_for(weight_type)));
    return a;
}

void free_act(ActView& a) {
    cudaFree(a.f);
    cudaFree(a.q);
    cudaFree(a.d);
}

void free_matrix(DevMatrix& m) {
    cudaFree(const_cast<uint8_t*>(m.data));
    if (m.scale) cudaFree(const_cast<float*>(m.scale));
}

// y (+)= W·a over n_rows activation rows through 8-row matvec launches (as the session runs the
// types the GEMM does not take).
cudaError_t matvec_in_pieces(const DevMatrix& m, float* y, bool add, ActView a, int n_rows) {
    for (int r = 0; r < n_rows; r += kMaxRows) {
        const MatvecOut piece{&m, y + static_cast<size_t>(r) * m.n, m.n, add};
        const cudaError_t e = launch_matvec(nullptr, &piece, 1, a.rows_from(r), std::min(kMaxRows, n_rows - r));
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

// The GEMM over n_rows activation rows against the matvec run on 8-row pieces of the same rows
// (bitwise: the matvec is itself bitwise equal to the CPU), with and without the residual add.
void check_gemm(uint32_t type, int k, int n, int n_rows, std::mt19937& rng) {
    const DevMatrix m = upload_matrix(type, random_rows(type, k, n, rng), k, n);
    std::vector<float> x, y0(static_cast<size_t>(n_rows) * n);
    ActView a = random_act(type, k, n_rows, rng, x);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : y0) v = g(rng);
    float *y_mv = nullptr, *y_mm = nullptr;
    const size_t bytes = sizeof(float) * y0.size();
    CHECK_CUDA(cudaMalloc(&y_mv, bytes));
    CHECK_CUDA(cudaMalloc(&y_mm, bytes));
    bool same = true;
    for (const bool add : {false, true}) {
        CHECK_CUDA(cudaMemcpy(y_mv, y0.data(), bytes, cudaMemcpyHostToDevice));
        CHECK_CUDA(cudaMemcpy(y_mm, y0.data(), bytes, cudaMemcpyHostToDevice));
        CHECK_CUDA(matvec_in_pieces(m, y_mv, add, a, n_rows));
        const MatvecOut all{&m, y_mm, n, add};
        CHECK_CUDA(launch_gemm(nullptr, all, a, n_rows));
        std::vector<float> mv(y0.size()), mm(y0.size());
        CHECK_CUDA(cudaMemcpy(mv.data(), y_mv, bytes, cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(mm.data(), y_mm, bytes, cudaMemcpyDeviceToHost));
        same = same && std::memcmp(mv.data(), mm.data(), bytes) == 0;
    }
    char what[160];
    std::snprintf(what, sizeof what, "gemm %-5s k=%d n=%d rows=%d: bitwise equal to the matvec (y = W·x and y += W·x)", type_name(type), k,
                  n, n_rows);
    expect(same, what);
    cudaFree(y_mv);
    cudaFree(y_mm);
    free_act(a);
    DevMatrix dm = m;
    free_matrix(dm);
}

void check_matvec(uint32_t type, int k, int n, std::mt19937& rng) {
    const std::vector<uint8_t> rows = random_rows(type, k, n, rng);
    const DevMatrix m = upload_matrix(type, rows, k, n);
    std::vector<float> x;
    ActView a = random_act(type, k, kMaxRows, rng, x);
    float* y = nullptr;
    CHECK_CUDA(cudaMalloc(&y, sizeof(float) * kMaxRows * n));

    // CPU reference on the CPU's converted activation.
    const size_t ab = activation_row_bytes(type, k);
    std::vector<uint8_t> act(ab * kMaxRows);
    std::vector<float> ref(static_cast<size_t>(kMaxRows) * n), mag(static_cast<size_t>(kMaxRows) * n);
    std::vector<float> wrow(k);
    for (int r = 0; r < kMaxRows; r++) quantize_activation_row(type, &x[static_cast<size_t>(r) * k], &act[r * ab], k);
    const size_t file_row_bytes = rows.size() / n;
    for (int o = 0; o < n; o++) {
        const uint8_t* wr = &rows[static_cast<size_t>(o) * file_row_bytes];
        dequantize_row(type, wr, wrow.data(), k);
        for (int r = 0; r < kMaxRows; r++) {
            ref[static_cast<size_t>(r) * n + o] = vec_dot(type, wr, &act[r * ab], k);
            double s = 0.0;
            for (int i = 0; i < k; i++) s += std::fabs(wrow[i] * x[static_cast<size_t>(r) * k + i]);
            mag[static_cast<size_t>(r) * n + o] = static_cast<float>(s);
        }
    }

    std::vector<float> full(static_cast<size_t>(kMaxRows) * n), part(static_cast<size_t>(kMaxRows) * n);
    MatvecOut out{&m, y, n, false};
    CHECK_CUDA(launch_matvec(nullptr, &out, 1, a, kMaxRows));
    CHECK_CUDA(cudaMemcpy(full.data(), y, full.size() * sizeof(float), cudaMemcpyDeviceToHost));
    double worst = 0.0;
    for (size_t i = 0; i < full.size(); i++) worst = std::max(worst, std::fabs(double(full[i]) - ref[i]) / (mag[i] + 1e-30));
    bool invariant = true;
    for (int nr = 1; nr < kMaxRows; nr++) {
        CHECK_CUDA(launch_matvec(nullptr, &out, 1, a, nr));
        CHECK_CUDA(cudaMemcpy(part.data(), y, sizeof(float) * nr * n, cudaMemcpyDeviceToHost));
        invariant = invariant && std::memcmp(part.data(), full.data(), sizeof(float) * nr * n) == 0;
    }
    char what[160];
    const double limit = type == 0 ? 1e-5 : 0.0;
    std::snprintf(what, sizeof what, "matvec %-7s k=%d n=%d: max |gpu − cpu| / Σ|w·x| = %.2e (<= %.0e)", type_name(type), k, n, worst, limit);
    expect(worst <= limit, what);
    std::snprintf(what, sizeof what, "matvec %-7s k=%d rows 1..7 bitwise equal to the same rows of an 8-row launch", type_name(type), k);
    expect(invariant, what);
    cudaFree(y);
}

// One launch of three matrices for one activation row (as the model's grouped projections go), the
// second adding into its output: each output bitwise equal to its matrix's own launch (checked
// against the CPU by check_matvec), with more rows than the device holds warps at once.
void check_matvec_group(uint32_t type, int k, std::mt19937& rng) {
    const int ns[3] = {3001, 2500, 4099};
    std::vector<DevMatrix> m;
    for (int n : ns) m.push_back(upload_matrix(type, random_rows(type, k, n, rng), k, n));
    std::vector<float> x;
    ActView a = random_act(type, k, 1, rng, x);
    std::vector<float*> y(3), alone(3);
    std::vector<std::vector<float>> got(3), want(3);
    for (int i = 0; i < 3; i++) {
        CHECK_CUDA(cudaMalloc(&y[i], sizeof(float) * ns[i]));
        CHECK_CUDA(cudaMalloc(&alone[i], sizeof(float) * ns[i]));
        const MatvecOut one{&m[i], alone[i], ns[i], false};
        CHECK_CUDA(launch_matvec(nullptr, &one, 1, a, 1));
        want[i].resize(ns[i]);
        got[i].resize(ns[i]);
        CHECK_CUDA(cudaMemcpy(want[i].data(), alone[i], sizeof(float) * ns[i], cudaMemcpyDeviceToHost));
    }
    std::vector<float> base(ns[1]);
    for (int o = 0; o < ns[1]; o++) base[o] = 0.25f * static_cast<float>(o % 7) - 0.75f;
    CHECK_CUDA(cudaMemcpy(y[1], base.data(), sizeof(float) * ns[1], cudaMemcpyHostToDevice));
    for (int o = 0; o < ns[1]; o++) want[1][o] = base[o] + want[1][o];
    const MatvecOut outs[3] = {{&m[0], y[0], ns[0], false}, {&m[1], y[1], ns[1], true}, {&m[2], y[2], ns[2], false}};
    CHECK_CUDA(launch_matvec(nullptr, outs, 3, a, 1));
    bool same = true;
    for (int i = 0; i < 3; i++) {
        CHECK_CUDA(cudaMemcpy(got[i].data(), y[i], sizeof(float) * ns[i], cudaMemcpyDeviceToHost));
        same = same && std::memcmp(got[i].data(), want[i].data(), sizeof(float) * ns[i]) == 0;
        cudaFree(y[i]);
        cudaFree(alone[i]);
        free_matrix(m[i]);
    }
    char what[160];
    std::snprintf(what, sizeof what, "matvec %-7s k=%d, 3 matrices (%d, %d + y, %d rows) in one launch: bitwise equal to each alone", type_name(type),
                  k, ns[0], ns[1], ns[2]);
    expect(same, what);
}

// The SwiGLU launch (launch_matvec_swiglu) for 1, 2, 4 and 8 rows (the one-row kernel and the
// tensor-core tiles of 8 gate + 8 up rows): h bitwise equal to the gate and up matvecs followed by
// launch_swiglu (F32 out), with more warps than the device holds at once.
void check_matvec_swiglu(uint32_t type, int k, int F, std::mt19937& rng) {
    DevMatrix gate = upload_matrix(type, random_rows(type, k, F, rng), k, F), up = upload_matrix(type, random_rows(type, k, F, rng), k, F);
    std::vector<float> x;
    ActView a = random_act(type, k, kMaxRows, rng, x);
    const size_t all = static_cast<size_t>(kMaxRows) * F;
    float *g = device_zeros<float>(all), *u = device_zeros<float>(all), *h = device_zeros<float>(all), *want = device_zeros<float>(all);
    bool same = true;
    for (const int nr : {1, 2, 4, 8}) {
        CHECK_CUDA(launch_matvec_swiglu(nullptr, gate, up, h, a, nr));
        const MatvecOut outs[2] = {{&gate, g, F, false}, {&up, u, F, false}};
        CHECK_CUDA(launch_matvec(nullptr, outs, 2, a, nr));
        ActView hv{want, nullptr, nullptr, F};
        CHECK_CUDA(launch_swiglu(nullptr, g, u, F, nr, hv, ActFormat::F32));
        std::vector<float> got(static_cast<size_t>(nr) * F), ref(got.size());
        CHECK_CUDA(cudaMemcpy(got.data(), h, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(ref.data(), want, ref.size() * sizeof(float), cudaMemcpyDeviceToHost));
        same = same && std::memcmp(got.data(), ref.data(), got.size() * sizeof(float)) == 0;
    }
    char what[160];
    std::snprintf(what, sizeof what, "matvec %-7s k=%d, gate and up (%d rows) with SwiGLU in one launch, 1/2/4/8 rows == the two matvecs, then swiglu",
                  type_name(type), k, F);
    expect(same, what);
    for (float* p : {g, u, h, want}) cudaFree(p);
    free_act(a);
    free_matrix(gate);
    free_matrix(up);
}

// n tokens route to k of X experts with overlapping choices (token t's logits favour experts
// (3t + j) mod X, j < k, most to least), as a verify batch's tokens share experts.
// Two matrices per launch (as an FFN's gate and up go); K of 1, 2 or more super-blocks (8, 16 or 32
// lanes per K-quant row).
void check_moe_groups(uint32_t type, int K, std::mt19937& rng) {
    constexpr int X = 16, k = 4, n = 6, rows = 64, P = n * k;
    std::vector<float> router(static_cast<size_t>(n) * X, -4.0f);
    std::vector<int> want(P);
    for (int t = 0; t < n; t++) {
        for (int j = 0; j < k; j++) {
            want[t * k + j] = (3 * t + j) % X;
            router[static_cast<size_t>(t) * X + want[t * k + j]] = 2.0f - 0.5f * j;
        }
    }
    const DevMatrix w = upload_matrix(type, random_rows(type, K, X * rows, rng), K, X * rows);
    const DevMatrix w2 = upload_matrix(type, random_rows(type, K, X * rows, rng), K, X * rows);
    std::vector<float> x;
    ActView a = random_act(type, K, n, rng, x);
    float* d_router = to_device(router);
    int *ids = nullptr, *groups = nullptr;
    float *weights = nullptr, *y = nullptr, *y2 = nullptr, *y1 = nullptr;
    CHECK_CUDA(cudaMalloc(&ids, sizeof(int) * P));
    CHECK_CUDA(cudaMalloc(&groups, sizeof(int) * (2 * P + 2)));
    CHECK_CUDA(cudaMalloc(&weights, sizeof(float) * P));
    CHECK_CUDA(cudaMalloc(&y, sizeof(float) * P * rows));
    CHECK_CUDA(cudaMalloc(&y2, sizeof(float) * P * rows));
    CHECK_CUDA(cudaMalloc(&y1, sizeof(float) * rows));
    CHECK_CUDA(launch_moe_route(nullptr, d_router, n, X, k, ids, weights, groups));
    const ExpertOut outs[] = {{&w, y}, {&w2, y2}};
    CHECK_CUDA(launch_matvec_experts(nullptr, outs, 2, rows, ids, groups, P, a, k));
    std::vector<int> got(P), grp(2 * P + 2);
    std::vector<float> out(static_cast<size_t>(P) * rows), out2(out.size()), one(rows);
    CHECK_CUDA(cudaMemcpy(got.data(), ids, sizeof(int) * P, cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(grp.data(), groups, sizeof(int) * grp.size(), cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(out.data(), y, sizeof(float) * out.size(), cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(out2.data(), y2, sizeof(float) * out.size(), cudaMemcpyDeviceToHost));
    // The groups: G distinct experts, begin ascending to P, every pair listed once under its expert.
    const int G = grp[0];
    bool groups_ok = G >= 1 && G <= P && grp[1] == 0 && grp[1 + G] == P;
    std::vector<int> seen(P, 0), expert_of_group(G > 0 && G <= P ? G : 0, -1);
    for (int gi = 0; groups_ok && gi < G; gi++) {
        groups_ok = grp[1 + gi] < grp[2 + gi];
        for (int m = grp[1 + gi]; groups_ok && m < grp[2 + gi]; m++) {
            const int p = grp[2 + P + m];
            groups_ok = p >= 0 && p < P && seen[p]++ == 0;
            if (groups_ok && expert_of_group[gi] < 0) expert_of_group[gi] = got[p];
            groups_ok = groups_ok && got[p] == expert_of_group[gi];
        }
    }
    std::vector<int> distinct(want);
    std::sort(distinct.begin(), distinct.end());
    groups_ok = groups_ok && std::unique(distinct.begin(), distinct.end()) - distinct.begin() == G;
    // Each pair of each matrix against a 1-row matvec on its expert's rows.
    bool same = got == want;
    for (int p = 0; same && p < P; p++) {
        for (const auto& [mat, res] : {std::pair{&w, &out}, std::pair{&w2, &out2}}) {
            DevMatrix e = *mat;
            e.n = rows;
            e.data = mat->data + static_cast<size_t>(got[p]) * rows * mat->row_bytes;
            if (mat->scale) e.scale = mat->scale + static_cast<size_t>(got[p]) * rows * scales_per_row(type, K);
            const MatvecOut o{&e, y1, rows, false};
            CHECK_CUDA(launch_matvec(nullptr, &o, 1, a.rows_from(p / k), 1));
            CHECK_CUDA(cudaMemcpy(one.data(), y1, sizeof(float) * rows, cudaMemcpyDeviceToHost));
            same = same && std::memcmp(one.data(), &(*res)[static_cast<size_t>(p) * rows], sizeof(float) * rows) == 0;
        }
    }
    char what[160];
    std::snprintf(what, sizeof what, "moe %-5s k=%d %d tokens × %d of %d experts: %d groups, each pair once under its expert",
                  type_name(type), K, n, k, X, G);
    expect(groups_ok, what);
    std::snprintf(what, sizeof what, "moe %-5s k=%d the routed experts; every pair's gate and up bitwise equal to 1-row matvecs",
                  type_name(type), K);
    expect(same, what);
    for (void* p : {static_cast<void*>(d_router), static_cast<void*>(ids), static_cast<void*>(groups), static_cast<void*>(weights),
                    static_cast<void*>(y), static_cast<void*>(y2), static_cast<void*>(y1)}) {
        cudaFree(p);
    }
    free_act(a);
    for (const DevMatrix* m : {&w, &w2}) {
        DevMatrix dm = *m;
        free_matrix(dm);
    }
}

// The expert matvec (launch_matvec_experts): each (pair, row) output bitwise equal to the CPU's
// vec_dot of that expert's row with the pair's activation row (x_div 2: two pairs per token), the
// pairs grouped by expert on the host (moe.cuh's layout).
void check_experts(uint32_t type, int k, std::mt19937& rng) {
    const int n_expert = 3, rows = 37, n_pairs = 6, x_div = 2, n_tok = n_pairs / x_div;
    const std::vector<uint8_t> w = random_rows(type, k, n_expert * rows, rng);
    const DevMatrix m = upload_matrix(type, w, k, n_expert * rows);
    const std::vector<int> ids = {2, 0, 1, 2, 0, 0};
    std::vector<float> x;
    ActView a = random_act(type, k, n_tok, rng, x);
    std::vector<int> groups = {0};  // [G, begin (G + 1), order (n_pairs)]
    std::vector<int> order;
    for (int e = 0; e < n_expert; e++) {
        const size_t first = order.size();
        for (int p = 0; p < n_pairs; p++) {
            if (ids[p] == e) order.push_back(p);
        }
        if (order.size() > first) groups.push_back(static_cast<int>(first));
    }
    groups[0] = static_cast<int>(groups.size()) - 1;
    groups.push_back(n_pairs);
    groups.resize(2 + n_pairs, 0);
    groups.insert(groups.end(), order.begin(), order.end());
    int* d_ids = to_device(ids);
    int* d_groups = to_device(groups);
    float* y = nullptr;
    CHECK_CUDA(cudaMalloc(&y, sizeof(float) * n_pairs * rows));
    const ExpertOut out{&m, y};
    CHECK_CUDA(launch_matvec_experts(nullptr, &out, 1, rows, d_ids, d_groups, n_pairs, a, x_div));
    std::vector<float> got(static_cast<size_t>(n_pairs) * rows);
    CHECK_CUDA(cudaMemcpy(got.data(), y, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
    const size_t ab = activation_row_bytes(type, k), wb = w.size() / (n_expert * rows);
    std::vector<uint8_t> act(ab * n_tok);
    for (int r = 0; r < n_tok; r++) quantize_activation_row(type, &x[static_cast<size_t>(r) * k], &act[r * ab], k);
    int differ = 0;
    for (int p = 0; p < n_pairs; p++) {
        for (int o = 0; o < rows; o++) {
            const float ref = vec_dot(type, &w[(static_cast<size_t>(ids[p]) * rows + o) * wb], &act[(p / x_div) * ab], k);
            differ += std::memcmp(&ref, &got[static_cast<size_t>(p) * rows + o], 4) != 0;
        }
    }
    char what[160];
    std::snprintf(what, sizeof what, "matvec experts %-7s k=%d: %d of %d outputs differ from the CPU's vec_dot (bitwise)", type_name(type), k,
                  differ, n_pairs * rows);
    expect(differ == 0, what);
    cudaFree(y);
    cudaFree(d_ids);
    cudaFree(d_groups);
    free_act(a);
    DevMatrix dm = m;
    free_matrix(dm);
}

// The embedding lookup of a table in its device layout: each token's row bitwise equal to the CPU's
// dequantize_row of the file's row.
void check_embed(uint32_t type, int k, std::mt19937& rng) {
    const int V = 7;
    const std::vector<uint8_t> table = random_rows(type, k, V, rng);
    const DevMatrix m = upload_matrix(type, table, k, V);
    const std::vector<int> tok = {3, 0, 6, 3};
    const int n = static_cast<int>(tok.size());
    int* d_tok = to_device(tok);
    float* out = nullptr;
    CHECK_CUDA(cudaMalloc(&out, sizeof(float) * n * k));
    CHECK_CUDA(launch_embed(nullptr, m, d_tok, n, out, k));
    std::vector<float> got(static_cast<size_t>(n) * k), ref(k);
    CHECK_CUDA(cudaMemcpy(got.data(), out, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
    const size_t rb = table.size() / V;
    int differ = 0;
    for (int r = 0; r < n; r++) {
        dequantize_row(type, &table[tok[r] * rb], ref.data(), k);
        differ += std::memcmp(ref.data(), &got[static_cast<size_t>(r) * k], sizeof(float) * k) != 0;
    }
    char what[160];
    std::snprintf(what, sizeof what, "embed %-7s k=%d: %d of %d rows differ from the CPU's dequantize_row (bitwise)", type_name(type), k, differ, n);
    expect(differ == 0, what);
    cudaFree(out);
    cudaFree(d_tok);
    DevMatrix dm = m;
    free_matrix(dm);
}

// The rule the device derives IQ sign bytes by (lowbit-tables.cuh: iq_sign_bits) against the table.
void check_iq_signs() {
    bool same = true;
    for (uint32_t i = 0; i < 128; i++) same = same && (i | ((__builtin_popcount(i) & 1u) << 7)) == kIQSigns[i];
    expect(same, "IQ sign bytes: index | parity << 7 is kIQSigns");
}

void check_rms_norm(std::mt19937& rng) {
    const int k = 384, n = 5;
    std::normal_distribution<float> g(0.0f, 3.0f);
    std::vector<float> x(static_cast<size_t>(n) * k), w(k), y(x.size());
    for (auto& v : x) v = g(rng);
    for (auto& v : w) v = g(rng);
    float *dx = to_device(x), *dw = to_device(w), *dy = nullptr;
    CHECK_CUDA(cudaMalloc(&dy, y.size() * sizeof(float)));
    CHECK_CUDA(launch_rms_norm(nullptr, dx, k, dw, dy, k, k, n, 1e-6f, ActView{}, ActFormat::F32));
    CHECK_CUDA(cudaMemcpy(y.data(), dy, y.size() * sizeof(float), cudaMemcpyDeviceToHost));
    bool same = true;
    for (int r = 0; r < n; r++) {
        double s = 0.0;
        for (int i = 0; i < k; i++) s += static_cast<double>(x[r * k + i] * x[r * k + i]);
        const float scale = 1.0f / std::sqrt(static_cast<float>(s / k) + 1e-6f);
        for (int i = 0; i < k; i++) same = same && y[r * k + i] == (x[r * k + i] * scale) * w[i];
    }
    expect(same, "rms_norm bitwise equal to the CPU's formula (double sum of squares)");
}

// The fused MTP input against the launches it replaces: embed, two rms_norms into the halves of c,
// then the Q8_0 quantization of c — bitwise.
void check_mtp_input(std::mt19937& rng) {
    const int E = 384, V = 50, n = 3;
    std::uniform_int_distribution<int> q8(-127, 127);
    std::normal_distribution<float> g(0.0f, 2.0f);
    std::vector<int8_t> q(static_cast<size_t>(V) * E);
    std::vector<float> sc(static_cast<size_t>(V) * (E / 32)), h(static_cast<size_t>(n) * E), ew(E), hw(E);
    for (auto& v : q) v = static_cast<int8_t>(q8(rng));
    for (auto& v : sc) v = std::fabs(g(rng)) * 0.01f;
    for (auto& v : h) v = g(rng);
    for (auto& v : ew) v = g(rng);
    for (auto& v : hw) v = g(rng);
    const std::vector<int> tok = {7, 0, 49};
    DevMatrix table;
    table.type = 8;
    table.k = E;
    table.n = V;
    table.data = reinterpret_cast<const uint8_t*>(to_device(q));
    table.scale = to_device(sc);
    table.row_bytes = E;
    const int* dtok = to_device(tok);
    const float *dh = to_device(h), *dew = to_device(ew), *dhw = to_device(hw);
    auto make = [&](ActView& c) {
        c.k = 2 * E;
        CHECK_CUDA(cudaMalloc(&c.f, static_cast<size_t>(n) * 2 * E * sizeof(float)));
        CHECK_CUDA(cudaMalloc(&c.q, static_cast<size_t>(n) * 2 * E));
        CHECK_CUDA(cudaMalloc(&c.d, static_cast<size_t>(n) * (2 * E / 32) * sizeof(float)));
    };
    ActView fused{}, ref{};
    make(fused);
    make(ref);
    float* x = nullptr;
    CHECK_CUDA(cudaMalloc(&x, static_cast<size_t>(n) * E * sizeof(float)));
    CHECK_CUDA(launch_mtp_input(nullptr, table, dtok, dh, dew, dhw, n, 1e-6f, fused, ActFormat::Q8_0));
    CHECK_CUDA(launch_embed(nullptr, table, dtok, n, x, E));
    CHECK_CUDA(launch_rms_norm(nullptr, x, E, dew, ref.f, 2 * E, E, n, 1e-6f, ref, ActFormat::F32));
    CHECK_CUDA(launch_rms_norm(nullptr, dh, E, dhw, ref.f + E, 2 * E, E, n, 1e-6f, ref, ActFormat::F32));
    CHECK_CUDA(launch_quantize(nullptr, ref, n, ActFormat::Q8_0));
    auto host = [&](const ActView& c) {
        std::vector<float> f(static_cast<size_t>(n) * 2 * E), d(static_cast<size_t>(n) * (2 * E / 32));
        std::vector<int8_t> qq(static_cast<size_t>(n) * 2 * E);
        CHECK_CUDA(cudaMemcpy(f.data(), c.f, f.size() * sizeof(float), cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(qq.data(), c.q, qq.size(), cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(d.data(), c.d, d.size() * sizeof(float), cudaMemcpyDeviceToHost));
        return std::make_tuple(f, qq, d);
    };
    const auto a = host(fused), b = host(ref);
    expect(std::get<0>(a) == std::get<0>(b) && std::get<1>(a) == std::get<1>(b) && std::get<2>(a) == std::get<2>(b),
           "mtp_input bitwise equal to embed + 2 rms_norm + quantize (Q8_0)");
}

float maxrel(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < a.size(); i++) {
        num = std::max(num, std::fabs(double(a[i]) - b[i]));
        den = std::max(den, std::fabs(double(b[i])));
    }
    return static_cast<float>(num / (den + 1e-30));
}

float sigmoid_ref(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// y (n) = rms_norm as the CPU backend: sum of squares in double.
void rms_ref(float* x, const float* w, int n, float eps) {
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += static_cast<double>(x[i] * x[i]);
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
    for (int i = 0; i < n; i++) x[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
}

// conv1d + GDN over T tokens from zero state: Hk key heads, Hv value heads, Dk = Dv (tiny-code:
// 4, 8, 64; the real models' heads of 128 with 3 value heads per key head: 2, 6, 128), Kc 4.
void check_gdn(int Hk, int Hv, int Dk, std::mt19937& rng) {
    const int Dv = Dk, Kc = 4, Cc = 2 * Hk * Dk + Hv * Dv, T = 6;
    const float eps = 1e-6f;
    std::normal_distribution<float> g(0.0f, 1.0f);
    auto randv = [&](size_t n, float sc) { std::vector<float> v(n); for (auto& x : v) x = sc * g(rng); return v; };
    const std::vector<float> x = randv(T * Cc, 1.0f), w = randv(Cc * Kc, 0.5f), z = randv(T * Hv * Dv, 1.0f);
    const std::vector<float> beta = randv(T * Hv, 1.0f), alpha = randv(T * Hv, 1.0f), dtb = randv(Hv, 0.5f), nw = randv(Dv, 1.0f);
    std::vector<float> A(Hv);
    for (auto& a : A) a = -std::exp(0.5f * g(rng));
    // Reference.
    std::vector<float> conv(static_cast<size_t>(Kc - 1) * Cc, 0.0f), y(T * Cc), S(static_cast<size_t>(Hv) * Dv * Dk, 0.0f), ref(T * Hv * Dv);
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < Cc; c++) {
            float acc = 0.0f;
            for (int i = 0; i + 1 < Kc; i++) acc += conv[i * Cc + c] * w[c * Kc + i];
            acc += x[t * Cc + c] * w[c * Kc + Kc - 1];
            y[t * Cc + c] = acc;
            for (int i = 0; i + 2 < Kc; i++) conv[i * Cc + c] = conv[(i + 1) * Cc + c];
            conv[(Kc - 2) * Cc + c] = x[t * Cc + c];
        }
        vec_silu(&y[t * Cc], Cc);
        for (int i = 0; i < 2 * Hk; i++) {
            rms_ref(&y[t * Cc + i * Dk], nullptr, Dk, eps / Dk);
            for (int a = 0; a < Dk; a++) y[t * Cc + i * Dk + a] *= 1.0f / std::sqrt(static_cast<float>(Dk));
        }
        for (int j = 0; j < Hv; j++) {
            const float* q = &y[t * Cc + (j % Hk) * Dk];
            const float* k = &y[t * Cc + Hk * Dk + (j % Hk) * Dk];
            const float* v = &y[t * Cc + 2 * Hk * Dk + j * Dv];
            const float b = sigmoid_ref(beta[t * Hv + j]);
            const float xa = alpha[t * Hv + j] + dtb[j];
            const float decay = std::exp((xa > 20.0f ? xa : std::log(1.0f + std::exp(xa))) * A[j]);
            float* Sj = &S[static_cast<size_t>(j) * Dv * Dk];
            float* o = &ref[(t * Hv + j) * Dv];
            for (int c = 0; c < Dv; c++) {
                float sum = 0.0f;
                for (int r = 0; r < Dk; r++) {
                    Sj[c * Dk + r] *= decay;
                    sum += Sj[c * Dk + r] * k[r];
                }
                const float delta = (v[c] - sum) * b;
                float oc = 0.0f;
                for (int r = 0; r < Dk; r++) {
                    Sj[c * Dk + r] = std::fma(k[r], delta, Sj[c * Dk + r]);
                    oc += Sj[c * Dk + r] * q[r];
                }
                o[c] = oc * (1.0f / std::sqrt(static_cast<float>(Dk)));
            }
            rms_ref(o, nw.data(), Dv, eps);
            vec_mul_silu(o, &z[(t * Hv + j) * Dv], Dv);
        }
    }
    // GPU.
    std::vector<float> zeros_conv(conv.size(), 0.0f), zeros_s(S.size(), 0.0f);
    float *dx = to_device(x), *dw = to_device(w), *dz = to_device(z), *db = to_device(beta), *da = to_device(alpha);
    float *ddt = to_device(dtb), *dA = to_device(A), *dnw = to_device(nw), *dconv = to_device(zeros_conv), *dS = to_device(zeros_s);
    float *dy = nullptr, *dout = nullptr;
    CHECK_CUDA(cudaMalloc(&dy, sizeof(float) * T * Cc));
    CHECK_CUDA(cudaMalloc(&dout, sizeof(float) * T * Hv * Dv));
    CHECK_CUDA(launch_conv1d_update(nullptr, dx, dconv, dw, dy, nullptr, 0, 0, T, Cc, Kc));
    const GdnParams p{Hk, Hv, Dk, Dv, Cc, eps};
    CHECK_CUDA(launch_gated_delta_net(nullptr, p, dy, dz, db, da, ddt, dA, dnw, dS, nullptr, 0, 0, T, dout, nullptr, nullptr));
    std::vector<float> out(ref.size()), dev_state(S.size()), state(S.size());
    CHECK_CUDA(cudaMemcpy(out.data(), dout, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(dev_state.data(), dS, dev_state.size() * sizeof(float), cudaMemcpyDeviceToHost));
    // The device keeps S_j[r][c] at (j·Dk + r)·Dv + c; the reference at (j·Dv + c)·Dk + r.
    for (int j = 0; j < Hv; j++) {
        for (int c = 0; c < Dv; c++) {
            for (int r = 0; r < Dk; r++) state[(static_cast<size_t>(j) * Dv + c) * Dk + r] = dev_state[(static_cast<size_t>(j) * Dk + r) * Dv + c];
        }
    }
    char what[160];
    std::snprintf(what, sizeof what, "conv1d + gated_delta_net, %d/%d heads of %d, %d tokens: max rel error %.2e (out), %.2e (state) (<= 1e-6)",
                  Hk, Hv, Dk, T, maxrel(out, ref), maxrel(state, S));
    expect(maxrel(out, ref) <= 1e-6f && maxrel(state, S) <= 1e-6f, what);
}

// A rolled-back batch (the session's keep): a batch of T tokens writes its snapshot planes, then the
// next batch starts from plane m − 1 through `live` without the states being copied back. Its
// outputs and final states must equal, bit for bit, those of a batch of the first m tokens alone
// followed by the same next batch.
void check_gdn_rollback(int Hk, int Hv, int Dk, std::mt19937& rng) {
    const int Dv = Dk, Kc = 4, Cc = 2 * Hk * Dk + Hv * Dv, T = 5, m = 2, U = 3;
    std::normal_distribution<float> g(0.0f, 1.0f);
    auto randv = [&](size_t n, float sc) { std::vector<float> v(n); for (auto& x : v) x = sc * g(rng); return v; };
    const std::vector<float> w = randv(Cc * Kc, 0.5f), dtb = randv(Hv, 0.5f), nw = randv(Dv, 1.0f);
    std::vector<float> A(Hv);
    for (auto& a : A) a = -std::exp(0.5f * g(rng));
    // Tokens 0 … T − 1 of the first batch, then U of the next.
    const std::vector<float> x = randv((T + U) * Cc, 1.0f), z = randv((T + U) * Hv * Dv, 1.0f);
    const std::vector<float> beta = randv((T + U) * Hv, 1.0f), alpha = randv((T + U) * Hv, 1.0f);
    float *dx = to_device(x), *dw = to_device(w), *dz = to_device(z), *db = to_device(beta), *da = to_device(alpha);
    float *ddt = to_device(dtb), *dA = to_device(A), *dnw = to_device(nw);
    const size_t conv_plane = static_cast<size_t>(Kc - 1) * Cc, ssm_plane = static_cast<size_t>(Hv) * Dk * Dv;
    const GdnParams p{Hk, Hv, Dk, Dv, Cc, 1e-6f};
    const std::vector<int> live_m = {m};
    int* d_live = to_device(live_m);
    float *dy = nullptr, *dout = nullptr;
    CHECK_CUDA(cudaMalloc(&dy, sizeof(float) * T * Cc));
    CHECK_CUDA(cudaMalloc(&dout, sizeof(float) * T * Hv * Dv));
    // One layer's run: `first` tokens from t0 = 0 (writing T − 1 planes when first == T), then the
    // next batch's U tokens (from plane m − 1 when `rolled`); the next batch's outputs and final states.
    auto run = [&](int first, bool rolled, std::vector<float>& out, std::vector<float>& conv_out, std::vector<float>& ssm_out) {
        float *conv = device_zeros<float>(conv_plane), *ssm = device_zeros<float>(ssm_plane);
        float *conv_snap = device_zeros<float>((T - 1) * conv_plane), *ssm_snap = device_zeros<float>((T - 1) * ssm_plane);
        const int planes = first == T ? T - 1 : 0;
        CHECK_CUDA(launch_conv1d_update(nullptr, dx, conv, dw, dy, conv_snap, 0, planes, first, Cc, Kc));
        CHECK_CUDA(launch_gated_delta_net(nullptr, p, dy, dz, db, da, ddt, dA, dnw, ssm, ssm_snap, 0, planes, first, dout, nullptr, nullptr));
        const int* live = rolled ? d_live : nullptr;
        CHECK_CUDA(launch_conv1d_update(nullptr, dx + T * Cc, conv, dw, dy, conv_snap, 0, 0, U, Cc, Kc, live));
        CHECK_CUDA(launch_gated_delta_net(nullptr, p, dy, dz + T * Hv * Dv, db + T * Hv, da + T * Hv, ddt, dA, dnw, ssm, ssm_snap, 0, 0, U,
                                          dout, nullptr, nullptr, live));
        out.resize(U * Hv * Dv), conv_out.resize(conv_plane), ssm_out.resize(ssm_plane);
        CHECK_CUDA(cudaMemcpy(out.data(), dout, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(conv_out.data(), conv, conv_out.size() * sizeof(float), cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(ssm_out.data(), ssm, ssm_out.size() * sizeof(float), cudaMemcpyDeviceToHost));
        for (float* q : {conv, ssm, conv_snap, ssm_snap}) cudaFree(q);
    };
    std::vector<float> out_r, conv_r, ssm_r, out_k, conv_k, ssm_k;
    run(T, true, out_r, conv_r, ssm_r);   // T tokens, keep m: the next batch from plane m − 1
    run(m, false, out_k, conv_k, ssm_k);  // the m kept tokens alone
    char what[160];
    std::snprintf(what, sizeof what, "conv1d + gated_delta_net, %d/%d heads of %d: a batch of %d kept to %d, then %d tokens from the plane == from %d tokens alone",
                  Hk, Hv, Dk, T, m, U, m);
    expect(out_r == out_k && conv_r == conv_k && ssm_r == ssm_k, what);
    for (void* q : {static_cast<void*>(dx), static_cast<void*>(dw), static_cast<void*>(dz), static_cast<void*>(db), static_cast<void*>(da),
                    static_cast<void*>(ddt), static_cast<void*>(dA), static_cast<void*>(dnw), static_cast<void*>(d_live), static_cast<void*>(dy),
                    static_cast<void*>(dout)}) {
        cudaFree(q);
    }
}

// The CPU backend's gated attention (cpu/attention-core.h) of rows t = 0 … T − 1 at positions
// base + t over caches in the device layout kc, vc (n_ctx, Hkv, D) f16: q (T, H, D) floats, qg (T, H,
// 2D) for the gates; ref (T, H, D).
std::vector<float> attention_ref(const std::vector<float>& q, const std::vector<float>& qg, const std::vector<uint16_t>& kc,
                                 const std::vector<uint16_t>& vc, int T, int base, int H, int Hkv, int D, int n_ctx) {
    const int group = H / Hkv;
    std::vector<uint16_t> kt(kc.size());  // (Hkv, D, n_ctx): the CPU's transposed keys
    for (int p = 0; p < n_ctx; p++) {
        for (int e = 0; e < Hkv * D; e++) kt[static_cast<size_t>(e) * n_ctx + p] = kc[static_cast<size_t>(p) * Hkv * D + e];
    }
    std::vector<float> ref(static_cast<size_t>(T) * H * D);
    AttnWork work(group, D, n_ctx);
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < Hkv; j++) {
            const size_t head0 = static_cast<size_t>(t) * H + static_cast<size_t>(j) * group;
            attend_group(work, &q[head0 * D], &qg[head0 * 2 * D + D], 2 * D, &kt[static_cast<size_t>(j) * D * n_ctx], n_ctx,
                         &vc[static_cast<size_t>(j) * D], static_cast<size_t>(Hkv) * D, D, base + t + 1, &ref[head0 * D]);
        }
    }
    return ref;
}

// Outputs of two runs that differ in their bits.
int bits_differ(const std::vector<float>& a, const std::vector<float>& b) {
    int n = 0;
    for (size_t i = 0; i < a.size(); i++) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return n;
}

// q/k norm + rope + gated attention over T tokens at positions 0..T-1, tiny-code's shapes.
void check_attention(std::mt19937& rng) {
    const int H = 6, Hkv = 2, D = 64, R = 16, T = 7, n_ctx = 16;
    const float eps = 1e-6f, base = 1e7f;
    std::normal_distribution<float> g(0.0f, 1.0f);
    auto randv = [&](size_t n, float sc) { std::vector<float> v(n); for (auto& x : v) x = sc * g(rng); return v; };
    const std::vector<float> qg = randv(T * H * 2 * D, 1.0f), k = randv(T * Hkv * D, 1.0f), v = randv(T * Hkv * D, 1.0f);
    const std::vector<float> qn = randv(D, 1.0f), kn = randv(D, 1.0f);
    // Reference: q/k norm and rope as the CPU's (sections [11, 11, 10, 0]: every pair uses the
    // position), then the CPU's attention.
    std::vector<float> q(T * H * D), kk = k;
    std::vector<uint16_t> kc(static_cast<size_t>(n_ctx) * Hkv * D), vc(kc.size());
    const float theta_scale = std::pow(base, -2.0f / R);
    for (int t = 0; t < T; t++) {
        float cs[R / 2], sn[R / 2], theta = static_cast<float>(t);
        for (int i = 0; i < R / 2; i++) {
            cs[i] = std::cos(theta);
            sn[i] = std::sin(theta);
            theta *= theta_scale;
        }
        auto rope = [&](float* x) {
            for (int i = 0; i < R / 2; i++) {
                const float x0 = x[i], x1 = x[i + R / 2];
                x[i] = x0 * cs[i] - x1 * sn[i];
                x[i + R / 2] = x0 * sn[i] + x1 * cs[i];
            }
        };
        for (int h = 0; h < H; h++) {
            float* qh = &q[(t * H + h) * D];
            std::copy(&qg[(t * H + h) * 2 * D], &qg[(t * H + h) * 2 * D] + D, qh);
            rms_ref(qh, qn.data(), D, eps);
            rope(qh);
        }
        for (int j = 0; j < Hkv; j++) {
            rms_ref(&kk[(t * Hkv + j) * D], kn.data(), D, eps);
            rope(&kk[(t * Hkv + j) * D]);
        }
        for (int e = 0; e < Hkv * D; e++) {
            kc[t * Hkv * D + e] = f32_to_f16(kk[t * Hkv * D + e]);
            vc[t * Hkv * D + e] = f32_to_f16(v[t * Hkv * D + e]);
        }
    }
    const std::vector<float> ref = attention_ref(q, qg, kc, vc, T, 0, H, Hkv, D, n_ctx);
    // GPU.
    float *dqg = to_device(qg), *dk = to_device(k), *dv = to_device(v), *dqn = to_device(qn), *dkn = to_device(kn);
    const std::vector<int> pos = {0};
    int* dpos = to_device(pos);
    __half *q16 = nullptr, *dkc = nullptr, *dvc = nullptr;
    float* dout = nullptr;
    void* scratch = nullptr;
    CHECK_CUDA(cudaMalloc(&q16, sizeof(__half) * T * H * D));
    CHECK_CUDA(cudaMalloc(&dkc, sizeof(__half) * n_ctx * Hkv * D));
    CHECK_CUDA(cudaMalloc(&dvc, sizeof(__half) * n_ctx * Hkv * D));
    CHECK_CUDA(cudaMalloc(&scratch, attention_scratch_bytes(H, D, n_ctx)));
    CHECK_CUDA(cudaMalloc(&dout, sizeof(float) * T * H * D));
    const RopeParams rp{H, Hkv, D, R, {11, 11, 10, 0}, base, 1.0f, 1.0f, eps};
    CHECK_CUDA(launch_qk_norm_rope_store(nullptr, rp, dqg, dk, dv, dqn, dkn, dpos, 0, T, q16, dkc, dvc));
    CHECK_CUDA(launch_gated_attention(nullptr, q16, dqg, dkc, dvc, dpos, 0, T, H, Hkv, D, n_ctx, scratch, dout, nullptr, nullptr));
    std::vector<float> out(ref.size());
    std::vector<uint16_t> kc_gpu(kc.size());
    CHECK_CUDA(cudaMemcpy(out.data(), dout, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(kc_gpu.data(), dkc, T * Hkv * D * sizeof(uint16_t), cudaMemcpyDeviceToHost));
    int k_diff = 0;
    for (int e = 0; e < T * Hkv * D; e++) k_diff += kc_gpu[e] != kc[e];
    char what[200];
    std::snprintf(what, sizeof what, "rope + gated_attention, %d tokens: max rel error %.2e (<= 1e-6), %d of %zu outputs' bits differ, %d of %d K cache entries differ",
                  T, maxrel(out, ref), bits_differ(out, ref), out.size(), k_diff, T * Hkv * D);
    expect(maxrel(out, ref) <= 1e-6f && k_diff == 0, what);
    for (void* p : {static_cast<void*>(dqg), static_cast<void*>(dk), static_cast<void*>(dv), static_cast<void*>(dqn),
                    static_cast<void*>(dkn), static_cast<void*>(dpos), static_cast<void*>(q16), static_cast<void*>(dkc),
                    static_cast<void*>(dvc), scratch, static_cast<void*>(dout)}) {
        cudaFree(p);
    }
}

// Gated attention of 8 rows over random F16 caches, against the CPU's: rows straddling the
// 512-position chunk boundary (attention-order.h) and rows of 3 chunks, at tiny-code's head shape
// and the 27B's (D 256); each row also alone (pos_offset), which must give the same bits.
void check_attention_long(std::mt19937& rng) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (const auto& [H, Hkv, D] : {std::tuple{6, 2, 64}, std::tuple{8, 2, 256}}) {
        const int T = 8, n_ctx = 1300;
        std::vector<float> q(static_cast<size_t>(T) * H * D), qg(static_cast<size_t>(T) * H * 2 * D);
        for (float& x : q) x = mtp::round_to_f16(g(rng));  // the device reads q as F16
        for (float& x : qg) x = g(rng);
        std::vector<uint16_t> kc(static_cast<size_t>(n_ctx) * Hkv * D), vc(kc.size());
        for (auto& x : kc) x = f32_to_f16(g(rng));
        for (auto& x : vc) x = f32_to_f16(g(rng));
        std::vector<__half> qh(q.size());
        for (size_t i = 0; i < q.size(); i++) qh[i] = __float2half_rn(q[i]);
        __half *dq = to_device(qh), *dkc = reinterpret_cast<__half*>(to_device(kc)), *dvc = reinterpret_cast<__half*>(to_device(vc));
        float *dqg = to_device(qg), *dout = nullptr;
        void* scratch = nullptr;
        CHECK_CUDA(cudaMalloc(&dout, sizeof(float) * q.size()));
        CHECK_CUDA(cudaMalloc(&scratch, attention_scratch_bytes(H, D, n_ctx)));
        for (int base : {507, 1291}) {
            const std::vector<int> pos = {base};
            int* dpos = to_device(pos);
            const std::vector<float> ref = attention_ref(q, qg, kc, vc, T, base, H, Hkv, D, n_ctx);
            CHECK_CUDA(launch_gated_attention(nullptr, dq, dqg, dkc, dvc, dpos, 0, T, H, Hkv, D, n_ctx, scratch, dout, nullptr, nullptr));
            std::vector<float> out(q.size()), alone(q.size());
            CHECK_CUDA(cudaMemcpy(out.data(), dout, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
            for (int t = 0; t < T; t++) {
                const size_t at = static_cast<size_t>(t) * H * D;
                CHECK_CUDA(launch_gated_attention(nullptr, dq + at, dqg + 2 * at, dkc, dvc, dpos, t, 1, H, Hkv, D, n_ctx, scratch,
                                                  dout + at, nullptr, nullptr));
            }
            CHECK_CUDA(cudaMemcpy(alone.data(), dout, alone.size() * sizeof(float), cudaMemcpyDeviceToHost));
            char what[220];
            std::snprintf(what, sizeof what,
                          "gated_attention H %d/%d D %d, rows attending %d..%d positions: max rel error %.2e (<= 1e-6), %d of %zu outputs' bits differ from the CPU's, %d from one row per launch",
                          H, Hkv, D, base + 1, base + T, maxrel(out, ref), bits_differ(out, ref), out.size(), bits_differ(out, alone));
            expect(maxrel(out, ref) <= 1e-6f && bits_differ(out, alone) == 0, what);
            cudaFree(dpos);
        }
        for (void* p : {static_cast<void*>(dq), static_cast<void*>(dkc), static_cast<void*>(dvc), static_cast<void*>(dqg),
                        static_cast<void*>(dout), scratch}) {
            cudaFree(p);
        }
    }
}

// Device-to-device copy bandwidth (bytes read + written per second) of a 1 GiB buffer.
double copy_bandwidth() {
    const size_t bytes = size_t(1) << 30;
    void *a = nullptr, *b = nullptr;
    CHECK_CUDA(cudaMalloc(&a, bytes));
    CHECK_CUDA(cudaMalloc(&b, bytes));
    CHECK_CUDA(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0);
    cudaEventCreate(&t1);
    const int reps = 10;
    cudaEventRecord(t0);
    for (int i = 0; i < reps; i++) CHECK_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    cudaEventRecord(t1);
    CHECK_CUDA(cudaEventSynchronize(t1));
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, t0, t1);
    cudaFree(a);
    cudaFree(b);
    const double gbs = 2.0 * bytes * reps / (1e-3 * ms) / 1e9;
    std::printf("bench copy bandwidth (cudaMemcpy device to device, read + write): %.0f GB/s\n", gbs);
    return gbs;
}

// One matvec of a (k → n) matrix for 1, 2, 4 and 8 rows; copies of the matrix are cycled so the
// weights come from memory, not the L2 cache.
void bench_matvec(uint32_t type, int k, int n, double copy_gbs, std::mt19937& rng) {
    const std::vector<uint8_t> rows = random_rows(type, k, n, rng);
    const double bytes = static_cast<double>(rows.size());  // the file's bytes of the matrix
    const int copies = std::max(1, static_cast<int>(std::ceil(512e6 / bytes)));
    std::vector<DevMatrix> m;
    for (int c = 0; c < copies; c++) m.push_back(upload_matrix(type, rows, k, n));
    ActView a = device_act(k);
    CHECK_CUDA(cudaMemset(a.f, 0, sizeof(float) * kMaxRows * k));
    CHECK_CUDA(launch_quantize(nullptr, a, kMaxRows, act_format_for(type)));
    float* y = nullptr;
    CHECK_CUDA(cudaMalloc(&y, sizeof(float) * kMaxRows * n));
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0);
    cudaEventCreate(&t1);
    float one_row_us = 0.0f;
    for (int rows_in : {1, 2, 4, 8}) {
        const int reps = 8 * copies;
        auto launch = [&](int i) {
            const MatvecOut out{&m[i % copies], y, n, false};
            return launch_matvec(nullptr, &out, 1, a, rows_in);
        };
        for (int i = 0; i < copies; i++) CHECK_CUDA(launch(i));
        cudaEventRecord(t0);
        for (int i = 0; i < reps; i++) launch(i);
        cudaEventRecord(t1);
        CHECK_CUDA(cudaEventSynchronize(t1));
        float ms = 0.0f;
        cudaEventElapsedTime(&ms, t0, t1);
        const float us = 1e3f * ms / reps;
        if (rows_in == 1) one_row_us = us;
        const double gbs = bytes / (1e-6 * us) / 1e9;
        std::printf("bench matvec %-7s k=%d n=%d rows=%d: %.1f us (%.2fx 1 row), %.0f GB/s of weights = %.0f%% of copy bandwidth\n",
                    type_name(type), k, n, rows_in, us, us / one_row_us, gbs, 100.0 * gbs / copy_gbs);
    }
    cudaFree(y);
    for (DevMatrix& d : m) free_matrix(d);
}

// The GEMM of a (k → n) matrix over a prefill chunk of n_rows rows: µs, the tensor-core rate in
// int8 TOPS (2·k·n·rows operations) and the time of the same rows through 8-row matvecs.
void bench_gemm(uint32_t type, int k, int n, int n_rows, std::mt19937& rng) {
    DevMatrix m = upload_matrix(type, random_rows(type, k, n, rng), k, n);
    ActView a = device_act(k, n_rows);
    CHECK_CUDA(cudaMemset(a.f, 0, sizeof(float) * n_rows * k));
    CHECK_CUDA(launch_quantize(nullptr, a, n_rows, act_format_for(type)));
    float* y = nullptr;
    CHECK_CUDA(cudaMalloc(&y, sizeof(float) * n_rows * n));
    const MatvecOut out{&m, y, n, false};
    auto time_us = [&](auto&& launch) {
        cudaEvent_t t0, t1;
        cudaEventCreate(&t0);
        cudaEventCreate(&t1);
        CHECK_CUDA(launch());
        cudaEventRecord(t0);
        constexpr int kReps = 10;
        for (int i = 0; i < kReps; i++) launch();
        cudaEventRecord(t1);
        CHECK_CUDA(cudaEventSynchronize(t1));
        float ms = 0.0f;
        cudaEventElapsedTime(&ms, t0, t1);
        return 1e3f * ms / kReps;
    };
    const float gemm_us = time_us([&] { return launch_gemm(nullptr, out, a, n_rows); });
    const float mv_us = time_us([&] { return matvec_in_pieces(m, y, false, a, n_rows); });
    const double tops = 2.0 * k * n * n_rows / (1e-6 * gemm_us) / 1e12;
    std::printf("bench gemm %-5s k=%d n=%d rows=%d: %.1f us = %.1f TOPS (8-row matvecs: %.1f us, %.1fx)\n", type_name(type), k, n, n_rows,
                gemm_us, tops, mv_us, mv_us / gemm_us);
    cudaFree(y);
    free_act(a);
    free_matrix(m);
}

// Mean time of one launch of `launch` inside a captured graph of `reps` launches.
template <typename Launch>
float graph_time_us(Launch&& launch, int reps = 100) {
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreate(&s));
    cudaGraph_t g;
    cudaGraphExec_t exec;
    CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < reps; i++) CHECK_CUDA(launch(s));
    CHECK_CUDA(cudaStreamEndCapture(s, &g));
    CHECK_CUDA(cudaGraphInstantiate(&exec, g, 0));
    CHECK_CUDA(cudaGraphLaunch(exec, s));
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0);
    cudaEventCreate(&t1);
    cudaEventRecord(t0, s);
    for (int i = 0; i < 5; i++) CHECK_CUDA(cudaGraphLaunch(exec, s));
    cudaEventRecord(t1, s);
    CHECK_CUDA(cudaEventSynchronize(t1));
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, t0, t1);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    cudaStreamDestroy(s);
    return 1e3f * ms / (5.0f * static_cast<float>(reps));
}

// One kernel of a decode step for the step tables: its launch for n rows, and how many times a step
// launches it (8 layers: 6 GDN, 2 attention).
struct StepKernel {
    const char* name;
    int per_step;
    std::function<cudaError_t(cudaStream_t, int)> launch;
};

// The activation rows the step tables time: one, and a verify batch of K = 1 and 3.
constexpr int kStepWidths[] = {1, 2, 4};

// Each kernel timed from a graph for 1, 2 and 4 rows (a verify batch of K = 1 and 3) — what a verify
// row adds, kernel by kernel — and the step's total of these kernels.
void print_step_table(const char* tag, const std::vector<StepKernel>& rows) {
    float total[3] = {};
    std::printf("bench %s %-53s %8s %8s %8s\n", tag, "kernel (us; × launches per step)", "1 row", "2 rows", "4 rows");
    for (const StepKernel& r : rows) {
        float us[3];
        for (int i = 0; i < 3; i++) {
            us[i] = graph_time_us([&](cudaStream_t s) { return r.launch(s, kStepWidths[i]); });
            total[i] += us[i] * r.per_step;
        }
        std::printf("bench %s %-48s × %2d %8.2f %8.2f %8.2f\n", tag, r.name, r.per_step, us[0], us[1], us[2]);
    }
    std::printf("bench %s step (these kernels): %.0f us (1 row), %.0f us (2 rows, %.2fx), %.0f us (4 rows, %.2fx)\n", tag, total[0],
                total[1], total[1] / total[0], total[2], total[2] / total[0]);
}

// argmax against a scan in index order (the CPU sampler's): rows of tiny-code's and Qwen3.6's
// vocabulary sizes, with the maximum tied within a slice of 4096 and across slices, NaN and −inf
// logits, an all-NaN row (→ 0) and a row whose best is its last logit.
void check_argmax(std::mt19937& rng) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (int V : {1000, 8192, 248320}) {
        const int rows = kMaxRows;
        std::vector<float> l(static_cast<size_t>(rows) * V);
        for (auto& x : l) x = g(rng);
        auto row = [&](int r) { return &l[static_cast<size_t>(r) * V]; };
        row(0)[17] = 9.0f, row(0)[V - 5] = 9.0f;                // tied across slices (within one when V = 1000)
        row(1)[V / 2] = 9.0f, row(1)[V / 2 + 256] = 9.0f;       // tied within a slice, on one thread's lane of it
        row(2)[0] = NAN, row(2)[1] = INFINITY, row(2)[2] = NAN;  // +inf wins over NaN
        std::fill(row(3), row(3) + V, NAN);                     // every logit NaN: 0
        std::fill(row(4), row(4) + V, -INFINITY);               // every logit −inf: 0
        row(5)[V - 1] = 9.0f;                                   // the last logit
        std::fill(row(6), row(6) + V, 0.5f);                    // all equal: the first
        float* dl = to_device(l);
        int* dout = nullptr;
        void* scratch = nullptr;
        CHECK_CUDA(cudaMalloc(&dout, rows * sizeof(int)));
        CHECK_CUDA(cudaMalloc(&scratch, argmax_scratch_bytes(V)));
        CHECK_CUDA(launch_argmax(nullptr, dl, V, rows, scratch, dout));
        std::vector<int> out(rows);
        CHECK_CUDA(cudaMemcpy(out.data(), dout, rows * sizeof(int), cudaMemcpyDeviceToHost));
        int bad = 0;
        for (int r = 0; r < rows; r++) {
            int best = 0;
            float bv = -INFINITY;
            bool any = false;
            for (int i = 0; i < V; i++) {
                if (row(r)[i] > bv) bv = row(r)[i], best = i, any = true;
            }
            bad += out[r] != (any ? best : 0);
        }
        char what[128];
        std::snprintf(what, sizeof what, "argmax V=%d: %d of %d rows differ from a scan in order (first index on ties)", V, bad, rows);
        expect(bad == 0, what);
        if (V == 248320) {
            for (int nr : {1, 4}) {
                const float us = graph_time_us([&](cudaStream_t s) { return launch_argmax(s, dl, V, nr, scratch, dout); });
                std::printf("bench argmax V=%d, %d row(s): %.2f us\n", V, nr, us);
            }
        }
        cudaFree(dl);
        cudaFree(dout);
        cudaFree(scratch);
    }
}

// Sampling candidates on the device against the host's top_logits (runtime/sampling.cpp): the same
// k tokens with the same logits, best first, for rows with many equal logits, a NaN, all-NaN and
// -inf rows, at tiny-code's and Qwen3.6's vocabulary sizes and k up to 64.
void check_top_logits(std::mt19937& rng) {
    std::normal_distribution<float> g(0.0f, 2.0f);
    for (int V : {8192, 248320}) {
        const int rows = kMaxRows;
        std::vector<float> lg(static_cast<size_t>(rows) * V);
        for (int r = 0; r < rows; r++) {
            float* row = &lg[static_cast<size_t>(r) * V];
            for (int i = 0; i < V; i++) row[i] = r % 2 ? std::round(g(rng) * 2.0f) / 2.0f : g(rng);  // odd rows: many ties
            if (r == 1) row[V / 3] = NAN;
            if (r == 2) row[17] = -0.0f, row[18] = 0.0f;
        }
        std::fill(&lg[static_cast<size_t>(3) * V], &lg[static_cast<size_t>(4) * V], NAN);       // row 3: every logit NaN
        std::fill(&lg[static_cast<size_t>(4) * V], &lg[static_cast<size_t>(5) * V], -INFINITY);  // row 4: all −inf
        for (int i = 0; i < 10; i++) lg[static_cast<size_t>(4) * V + 100 * i] = NAN;
        float* dl = to_device(lg);
        TokenLogit* dout = nullptr;
        void* scratch = nullptr;
        CHECK_CUDA(cudaMalloc(&dout, sizeof(TokenLogit) * rows * kMaxTopLogits));
        CHECK_CUDA(cudaMalloc(&scratch, top_logits_scratch_bytes(V, kMaxTopLogits)));
        for (int k : {1, 40, 64}) {
            CHECK_CUDA(launch_top_logits(nullptr, dl, V, rows, k, scratch, dout));
            std::vector<TokenLogit> dev(static_cast<size_t>(rows) * k), host(static_cast<size_t>(k));
            CHECK_CUDA(cudaMemcpy(dev.data(), dout, dev.size() * sizeof(TokenLogit), cudaMemcpyDeviceToHost));
            int bad_rows = 0;
            for (int r = 0; r < rows; r++) {
                top_logits(&lg[static_cast<size_t>(r) * V], V, k, host.data());
                std::stable_sort(host.begin(), host.end(), [](const TokenLogit& a, const TokenLogit& b) {
                    if ((a.id < 0) != (b.id < 0)) return b.id < 0;
                    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
                });
                bool same = true;
                for (int i = 0; i < k; i++) {
                    const TokenLogit &x = dev[static_cast<size_t>(r) * k + i], &y = host[static_cast<size_t>(i)];
                    same = same && x.id == y.id && (x.id < 0 || x.logit == y.logit);
                }
                bad_rows += !same;
            }
            char what[160];
            std::snprintf(what, sizeof what, "top_logits V=%d k=%d: %d of %d rows differ from the host's", V, k, bad_rows, rows);
            expect(bad_rows == 0, what);
        }
        const float us = graph_time_us([&](cudaStream_t s) { return launch_top_logits(s, dl, V, 4, 40, scratch, dout); });
        std::printf("bench top_logits V=%d, 4 rows, k=40: %.2f us\n", V, us);
        for (void* p : {static_cast<void*>(dl), static_cast<void*>(dout), scratch}) cudaFree(p);
    }
}

// The device's sampler chain and draw (sample.cuh) against the host's SamplerChain::distribution_top
// and draw_at: 400 rows of sorted candidates (ties, short rows ending in id −1, k 1 … 64) under four
// parameter sets (one that often leaves a point mass, which must not take a uniform); the items'
// ids and probabilities bit for bit, the token, and the uniforms taken.
void check_sample_row(std::mt19937& rng) {
    std::normal_distribution<float> g(0.0f, 3.0f);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    const SamplerParams sets[] = {{0.8f, 40, 0.95f, 0.05f}, {1.5f, 40, 1.0f, 0.0f}, {0.3f, 40, 0.5f, 0.2f}, {1.0f, 40, 0.9f, 0.5f}};
    TokenLogit* dtop = nullptr;
    SampleArgs* dargs = nullptr;
    TokenProb* ddist = nullptr;
    int *dtok = nullptr, *dn = nullptr;
    CHECK_CUDA(cudaMalloc(&dtop, sizeof(TokenLogit) * kMaxTopLogits));
    CHECK_CUDA(cudaMalloc(&dargs, sizeof(SampleArgs)));
    CHECK_CUDA(cudaMalloc(&ddist, sizeof(TokenProb) * kMaxTopLogits));
    CHECK_CUDA(cudaMalloc(&dtok, sizeof(int)));
    CHECK_CUDA(cudaMalloc(&dn, sizeof(int)));
    int bad = 0, point_masses = 0;
    const int rows = 400;
    for (int r = 0; r < rows; r++) {
        const SamplerParams& sp = sets[r % 4];
        const int k = std::vector<int>{1, 2, 5, 40, 64}[static_cast<size_t>(r / 4 % 5)];
        std::vector<TokenLogit> top(static_cast<size_t>(k));
        for (int i = 0; i < k; i++) top[static_cast<size_t>(i)] = {i * 37 + r, r % 3 == 0 ? std::round(g(rng)) : g(rng)};
        std::sort(top.begin(), top.end(), [](const TokenLogit& a, const TokenLogit& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); });
        if (r % 7 == 0 && k > 2) for (int i = k / 2; i < k; i++) top[static_cast<size_t>(i)] = {-1, 0.0f};  // a short row
        SampleArgs args{sp.temperature, sp.top_p, sp.min_p, 0, {}};
        args.uniforms[0] = uni(rng);
        CHECK_CUDA(cudaMemcpy(dtop, top.data(), sizeof(TokenLogit) * k, cudaMemcpyHostToDevice));
        CHECK_CUDA(cudaMemcpy(dargs, &args, sizeof args, cudaMemcpyHostToDevice));
        CHECK_CUDA(launch_sample_row(nullptr, dtop, k, dargs, dtok, ddist, dn));
        int tok = 0, n = 0;
        SampleArgs after{};
        std::vector<TokenProb> dist(static_cast<size_t>(k));
        CHECK_CUDA(cudaMemcpy(&tok, dtok, sizeof tok, cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(&n, dn, sizeof n, cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(&after, dargs, sizeof after, cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(dist.data(), ddist, sizeof(TokenProb) * k, cudaMemcpyDeviceToHost));
        const Distribution ref = SamplerChain(sp).distribution_top(top.data(), k);
        const std::vector<TokenProb>& items = ref.items();
        const bool mass = items.size() == 1;
        point_masses += mass;
        const int want = mass ? items[0].id : draw_at(items.data(), static_cast<int>(items.size()), args.uniforms[0]);
        bool same = n == static_cast<int>(items.size()) && tok == want && after.used == (mass ? 0 : 1);
        for (int i = 0; same && i < n; i++) same = dist[static_cast<size_t>(i)].id == items[static_cast<size_t>(i)].id &&
                                                  std::memcmp(&dist[static_cast<size_t>(i)].p, &items[static_cast<size_t>(i)].p, sizeof(float)) == 0;
        bad += !same;
    }
    char what[200];
    std::snprintf(what, sizeof what, "sample_row: %d of %d rows (%d point masses) differ from the host's chain and draw (items, bits, token, uniforms taken)",
                  bad, rows, point_masses);
    expect(bad == 0 && point_masses > 0, what);
    for (void* p : {static_cast<void*>(dtop), static_cast<void*>(dargs), static_cast<void*>(ddist), static_cast<void*>(dtok),
                    static_cast<void*>(dn)}) {
        cudaFree(p);
    }
}

// Every kernel of a tiny-code decode step (E 384, F 1024, V 8192, Cc 1024, 6/2 heads of 64, GDN
// 4/8 heads of 64), one row, 300 cached positions.
void bench_decode_kernels(std::mt19937& rng) {
    const int E = 384, F = 1024, V = 8192, Cc = 1024, H = 6, Hkv = 2, D = 64, Hv = 8, n_ctx = 512;
    auto mat = [&](int k, int n) { return upload_matrix(8, random_rows(8, k, n, rng), k, n); };
    const DevMatrix qkv = mat(E, Cc), gate = mat(E, Hv * D), ba = mat(E, Hv), out = mat(Hv * D, E), up = mat(E, F);
    const DevMatrix down = mat(F, E), head = mat(E, V), wq = mat(E, 2 * H * D), wk = mat(E, Hkv * D), ao = mat(H * D, E);
    ActView a = device_act(F);
    CHECK_CUDA(cudaMemset(a.f, 0, sizeof(float) * kMaxRows * F));
    CHECK_CUDA(cudaMemset(a.q, 1, kMaxRows * F));
    CHECK_CUDA(cudaMemset(a.d, 0, sizeof(float) * kMaxRows * (F / 32 + 1)));
    float *y0 = nullptr, *y1 = nullptr, *y2 = nullptr, *y3 = nullptr, *state = nullptr;
    void* scratch = nullptr;
    for (float** p : {&y0, &y1, &y2, &y3}) CHECK_CUDA(cudaMalloc(p, sizeof(float) * kMaxRows * V));
    CHECK_CUDA(cudaMalloc(&state, sizeof(float) * Hv * D * D));
    CHECK_CUDA(cudaMalloc(&scratch, attention_scratch_bytes(H, D, n_ctx)));
    for (float* p : {y0, y1, y2, y3, state}) CHECK_CUDA(cudaMemset(p, 0, sizeof(float) * Hv * D * D));
    __half* q16 = nullptr;
    CHECK_CUDA(cudaMalloc(&q16, sizeof(__half) * kMaxRows * H * D));
    __half *kc = device_zeros<__half>(n_ctx * Hkv * D), *vc = device_zeros<__half>(n_ctx * Hkv * D);
    const std::vector<int> pos = {300, 0, 60};
    int* dpos = to_device(pos);
    ActView aE = a;
    aE.k = E;
    ActView aO = a;
    aO.k = Hv * D;
    const MatvecOut gdn_in[] = {{&qkv, y0, Cc, false}, {&gate, y1, Hv * D, false}, {&ba, y2, Hv, false}, {&ba, y3, Hv, false}};
    const MatvecOut attn_in[] = {{&wq, y0, 2 * H * D, false}, {&wk, y1, Hkv * D, false}, {&wk, y2, Hkv * D, false}};
    const MatvecOut ffn_in[] = {{&up, y0, F, false}, {&up, y1, F, false}};
    const MatvecOut o_gdn{&out, y3, E, true}, o_attn{&ao, y3, E, true}, o_down{&down, y3, E, true}, o_head{&head, y0, V, false};
    const GdnParams gp{4, Hv, D, D, Cc, 1e-6f};
    const NormIn norm_in{y3, E, y2, 1e-6f};
    const RopeParams rp{H, Hkv, D, 16, {11, 11, 10, 0}, 1e7f, 1.0f, 1.0f, 1e-6f};
    const std::vector<StepKernel> rows = {
        {"rms_norm + quantize (E, the final norm)", 1, [&](cudaStream_t s, int nr) { return launch_rms_norm(s, y3, E, y2, aE.f, E, E, nr, 1e-6f, aE, ActFormat::Q8_0); }},
        {"rms_norm + matvec GDN in (qkv, gate, beta, alpha)", 6, [&](cudaStream_t s, int nr) { return launch_matvec_norm(s, gdn_in, 4, norm_in, E, nr); }},
        {"conv1d_update", 6, [&](cudaStream_t s, int nr) { return launch_conv1d_update(s, y0, y1, y2, y3, nullptr, 0, 0, nr, Cc, 4); }},
        {"gated_delta_net + quantize", 6, [&](cudaStream_t s, int nr) { return launch_gated_delta_net(s, gp, y0, y1, y2, y2, y2, y2, y2, state, nullptr, 0, 0, nr, aO.f, aO.q, aO.d); }},
        {"matvec ssm_out (+ residual)", 6, [&](cudaStream_t s, int nr) { return launch_matvec(s, &o_gdn, 1, aO, nr); }},
        {"rms_norm + matvec attention in (q, k, v)", 2, [&](cudaStream_t s, int nr) { return launch_matvec_norm(s, attn_in, 3, norm_in, E, nr); }},
        {"qk_norm_rope_store", 2, [&](cudaStream_t s, int nr) { return launch_qk_norm_rope_store(s, rp, y0, y1, y2, y3, y3, dpos, 0, nr, q16, kc, vc); }},
        {"gated_attention (301 positions) + quantize", 2, [&](cudaStream_t s, int nr) { return launch_gated_attention(s, q16, y0, kc, vc, dpos, 0, nr, H, Hkv, D, n_ctx, scratch, aE.f, aE.q, aE.d); }},
        {"matvec attn_output (+ residual)", 2, [&](cudaStream_t s, int nr) { return launch_matvec(s, &o_attn, 1, aE, nr); }},
        {"rms_norm + matvec gate/up", 8, [&](cudaStream_t s, int nr) { return launch_matvec_norm(s, ffn_in, 2, norm_in, E, nr); }},
        {"swiglu + quantize", 8, [&](cudaStream_t s, int nr) { ActView h = a; h.k = F; return launch_swiglu(s, y0, y1, F, nr, h, ActFormat::Q8_0); }},
        {"matvec ffn_down (+ residual)", 8, [&](cudaStream_t s, int nr) { ActView h = a; h.k = F; return launch_matvec(s, &o_down, 1, h, nr); }},
        {"matvec lm_head", 1, [&](cudaStream_t s, int nr) { return launch_matvec(s, &o_head, 1, aE, nr); }},
        {"argmax", 1, [&](cudaStream_t s, int nr) { return launch_argmax(s, y0, V, nr, y2, reinterpret_cast<int*>(y1)); }},
    };
    // How attention's time splits into a fixed part and a per-position part (not in the step total).
    for (int at : {1, 2}) {
        const float us = graph_time_us([&](cudaStream_t s) { return launch_gated_attention(s, q16, y0, kc, vc, dpos + at, 0, 1, H, Hkv, D, n_ctx, scratch, aE.f, aE.q, aE.d); });
        std::printf("bench decode gated_attention (%d positions): %.2f us\n", pos[at] + 1, us);
    }
    print_step_table("decode", rows);
}

// Gated attention at the 27B shape (24/4 heads of 256) over long contexts, 1 and 4 rows, from a graph:
// µs per launch and the K and V bytes it reads per µs (each KV head's rows once) against the copy
// bandwidth — what splitting a long row into chunks buys.
void bench_attention_long(double copy_gbs, std::mt19937& rng) {
    const int H = 24, Hkv = 4, D = 256, n_ctx = 32768;
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<uint16_t> cache(static_cast<size_t>(n_ctx) * Hkv * D);
    for (auto& x : cache) x = f32_to_f16(g(rng));
    std::vector<__half> qh(static_cast<size_t>(kMaxRows) * H * D);
    for (auto& x : qh) x = __float2half_rn(g(rng));
    const std::vector<float> qg(static_cast<size_t>(kMaxRows) * H * 2 * D, 0.5f);
    __half *dq = to_device(qh), *kc = reinterpret_cast<__half*>(to_device(cache)), *vc = reinterpret_cast<__half*>(to_device(cache));
    float *dqg = to_device(qg), *out = nullptr;
    void* scratch = nullptr;
    CHECK_CUDA(cudaMalloc(&out, sizeof(float) * kMaxRows * H * D));
    CHECK_CUDA(cudaMalloc(&scratch, attention_scratch_bytes(H, D, n_ctx)));
    for (int positions : {301, 4096, 32768}) {
        const std::vector<int> pos = {positions - 4};
        int* dpos = to_device(pos);
        float us[2];
        for (int i = 0; i < 2; i++) {
            const int rows = i == 0 ? 1 : 4;
            us[i] = graph_time_us([&](cudaStream_t s) {
                return launch_gated_attention(s, dq, dqg, kc, vc, dpos, 4 - rows, rows, H, Hkv, D, n_ctx, scratch, out, nullptr, nullptr);
            });
        }
        const double bytes = 2.0 * positions * Hkv * D * sizeof(uint16_t);
        std::printf("bench attention 27B shape, %5d positions: %8.2f us (1 row, %.1f %% of copy bandwidth), %8.2f us (4 rows, %.2fx)\n",
                    positions, us[0], 100.0 * bytes / (1e-6 * us[0]) / (1e9 * copy_gbs), us[1], us[1] / us[0]);
        cudaFree(dpos);
    }
    for (void* p : {static_cast<void*>(dq), static_cast<void*>(kc), static_cast<void*>(vc), static_cast<void*>(dqg),
                    static_cast<void*>(out), scratch}) {
        cudaFree(p);
    }
}

// The kernels of a Qwen3.6-35B-A3B-shape decode step (E 2048, 256 experts of 512, 8 used, a shared
// expert of 512, GDN 16/32 heads of 128, Q4_K matrices, the LM head Q6_K) for 1, 2 and 4 rows, each
// from a graph of 100 launches; the expert launches cycle through 100 routings of random router
// logits, so their rows come from memory as in a real step.
void bench_moe_kernels(std::mt19937& rng) {
    constexpr int E = 2048, X = 256, Fe = 512, k = 8, Hk = 16, Hv = 32, D = 128, Cc = 2 * Hk * D + Hv * D, V = 248320;
    constexpr int kRoutings = 100;
    auto mat = [&](uint32_t type, int kk, int n) { return upload_matrix(type, random_rows(type, kk, n, rng), kk, n); };
    const DevMatrix qkv = mat(12, E, Cc), zg = mat(12, E, Hv * D), ssm_out = mat(12, Hv * D, E), sh_up = mat(12, E, Fe);
    const DevMatrix router_w = mat(0, E, X), head = mat(14, E, V);
    const DevMatrix gate_x = mat(12, E, X * Fe), up_x = mat(12, E, X * Fe), down_x = mat(14, Fe, X * E);
    ActView a = device_act(Hv * D), h = device_act(Fe, kMaxRows * k);
    a.k = E;
    CHECK_CUDA(cudaMemset(a.f, 0, sizeof(float) * kMaxRows * Hv * D));
    CHECK_CUDA(launch_quantize(nullptr, a, kMaxRows, ActFormat::Q8_K));
    CHECK_CUDA(cudaMemset(h.f, 0, sizeof(float) * kMaxRows * k * Fe));
    CHECK_CUDA(launch_quantize(nullptr, h, kMaxRows * k, ActFormat::Q8_K));
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> logits(static_cast<size_t>(kRoutings) * kMaxRows * X);
    for (auto& v : logits) v = g(rng);
    float* d_logits = to_device(logits);
    constexpr int P = kMaxRows * k;
    int *ids = nullptr, *groups = nullptr, *ids_now = nullptr, *groups_now = nullptr;  // the routings; the timed route's
    float *weights = nullptr, *y0 = nullptr, *y1 = nullptr, *y2 = nullptr, *state = nullptr;
    CHECK_CUDA(cudaMalloc(&ids, sizeof(int) * kRoutings * 4 * P));  // (routing, width: 1, 2, 4) pairs
    CHECK_CUDA(cudaMalloc(&groups, sizeof(int) * kRoutings * 4 * (2 * P + 2)));
    CHECK_CUDA(cudaMalloc(&ids_now, sizeof(int) * P));
    CHECK_CUDA(cudaMalloc(&groups_now, sizeof(int) * (2 * P + 2)));
    CHECK_CUDA(cudaMalloc(&weights, sizeof(float) * P));
    for (float** p : {&y0, &y1, &y2}) CHECK_CUDA(cudaMalloc(p, sizeof(float) * kMaxRows * V));
    CHECK_CUDA(cudaMalloc(&state, sizeof(float) * Hv * D * D));
    for (float* p : {y0, y1, y2, state}) CHECK_CUDA(cudaMemset(p, 0, sizeof(float) * Hv * D * D));
    auto route_slot = [](int r, int nr) { return r * 4 + (nr == 4 ? 2 : nr - 1); };
    for (int r = 0; r < kRoutings; r++) {
        for (int nr : {1, 2, 4}) {
            const int at = route_slot(r, nr);
            CHECK_CUDA(launch_moe_route(nullptr, d_logits + static_cast<size_t>(r) * kMaxRows * X, nr, X, k, ids + at * P, weights,
                                        groups + at * (2 * P + 2)));
        }
    }
    const GdnParams gp{Hk, Hv, D, D, Cc, 1e-6f};
    const MatvecOut gdn_in[] = {{&qkv, y0, Cc, false}, {&zg, y1, Hv * D, false}};
    const MatvecOut o_gdn{&ssm_out, y2, E, true}, sh_in[] = {{&sh_up, y0, Fe, false}, {&sh_up, y1, Fe, false}};
    const MatvecOut o_router{&router_w, y2, X, false}, o_head{&head, y0, V, false};
    ActView aO = a;
    aO.k = Hv * D;
    int cycle = 0;  // the routing a captured expert launch uses
    auto experts = [&](const DevMatrix* w0, const DevMatrix* w1, int rows, ActView x, int x_div, cudaStream_t s, int nr) {
        const int at = route_slot(cycle++ % kRoutings, nr);
        const ExpertOut outs[] = {{w0, y0}, {w1, y1}};
        return launch_matvec_experts(s, outs, w1 ? 2 : 1, rows, ids + at * P, groups + at * (2 * P + 2), nr * k, x, x_div);
    };
    const std::vector<StepKernel> rows = {
        {"matvec GDN in (qkv 8192, z 4096)", 6, [&](cudaStream_t s, int nr) { return launch_matvec(s, gdn_in, 2, a, nr); }},
        {"gated_delta_net + quantize (32 heads of 128)", 6, [&](cudaStream_t s, int nr) { return launch_gated_delta_net(s, gp, y0, y1, y2, y2, y2, y2, y2, state, nullptr, 0, 0, nr, aO.f, aO.q, aO.d); }},
        {"matvec ssm_out (+ residual)", 6, [&](cudaStream_t s, int nr) { return launch_matvec(s, &o_gdn, 1, aO, nr); }},
        {"matvec shared expert gate/up", 8, [&](cudaStream_t s, int nr) { return launch_matvec(s, sh_in, 2, a, nr); }},
        {"matvec router (F32)", 8, [&](cudaStream_t s, int nr) { return launch_matvec(s, &o_router, 1, a, nr); }},
        {"moe_route + group", 8, [&](cudaStream_t s, int nr) { return launch_moe_route(s, d_logits, nr, X, k, ids_now, weights, groups_now); }},
        {"experts' gate + up (Q4_K 512 × 2048)", 8, [&](cudaStream_t s, int nr) { return experts(&gate_x, &up_x, Fe, a, k, s, nr); }},
        {"swiglu experts + quantize", 8, [&](cudaStream_t s, int nr) { return launch_swiglu(s, y0, y1, Fe, nr * k, h, ActFormat::Q8_K); }},
        {"experts' down (Q6_K 2048 × 512)", 8, [&](cudaStream_t s, int nr) { return experts(&down_x, nullptr, E, h, 1, s, nr); }},
        {"moe_combine", 8, [&](cudaStream_t s, int nr) { return launch_moe_combine(s, y0, weights, y1, y2, nr, k, E, y2); }},
        {"matvec lm_head (Q6_K 2048 → 248320)", 1, [&](cudaStream_t s, int nr) { return launch_matvec(s, &o_head, 1, a, nr); }},
    };
    print_step_table("moe", rows);
    for (void* p : {static_cast<void*>(d_logits), static_cast<void*>(ids), static_cast<void*>(groups), static_cast<void*>(ids_now),
                    static_cast<void*>(groups_now), static_cast<void*>(weights), static_cast<void*>(y0), static_cast<void*>(y1),
                    static_cast<void*>(y2), static_cast<void*>(state)}) {
        cudaFree(p);
    }
    free_act(a);
    free_act(h);
    for (const DevMatrix* m : {&qkv, &zg, &ssm_out, &sh_up, &router_w, &head, &gate_x, &up_x, &down_x}) {
        DevMatrix d = *m;
        free_matrix(d);
    }
}

// The kernels of a Qwen3.6-27B-shape decode step (E 5120, GDN 16/48 heads of 128, attention 24/4
// heads of 256, FFN 17408, the LM head Q6_K; the file's Q4_K_M types: Q4_K matrices but ffn_down
// Q6_K in half the layers and attn_v Q6_K) for 1, 2 and 4 rows, each from a graph of 100 launches
// whose matrices cycle through copies (over 160 MB each), so the weights come from memory as in a
// real step. Their sum is the step without the launch gaps a real step overlaps.
void bench_dense_kernels(std::mt19937& rng) {
    constexpr int E = 5120, F = 17408, V = 248320, Hk = 16, Hv = 48, D = 128, Cc = 2 * Hk * D + Hv * D, H = 24, Hkv = 4, Da = 256;
    constexpr int n_ctx = 512;
    struct Cycled {
        std::vector<DevMatrix> m;
        int next = 0;
        const DevMatrix* get() { return &m[next++ % m.size()]; }
    };
    auto cycled = [&](uint32_t type, int k, int n) {
        const std::vector<uint8_t> rows = random_rows(type, k, n, rng);
        Cycled c;
        const int copies = std::clamp(static_cast<int>(std::ceil(160e6 / static_cast<double>(rows.size()))), 1, 100);  // a graph is 100 launches
        for (int i = 0; i < copies; i++) c.m.push_back(upload_matrix(type, rows, k, n));
        return c;
    };
    Cycled qkv = cycled(12, E, Cc), z = cycled(12, E, Hv * D), beta = cycled(12, E, Hv), alpha = cycled(12, E, Hv);
    Cycled ssm_out = cycled(12, Hv * D, E), wq = cycled(12, E, 2 * H * Da), wk = cycled(12, E, Hkv * Da), wv = cycled(14, E, Hkv * Da);
    Cycled wo = cycled(12, H * Da, E), gate = cycled(12, E, F), up = cycled(12, E, F), down4 = cycled(12, F, E), down6 = cycled(14, F, E);
    Cycled head = cycled(14, E, V);
    ActView a = device_act(F);
    CHECK_CUDA(cudaMemset(a.f, 0, sizeof(float) * kMaxRows * F));
    CHECK_CUDA(cudaMemset(a.q, 0, kMaxRows * F));
    CHECK_CUDA(cudaMemset(a.d, 0, sizeof(float) * kMaxRows * (F / 32 + 1)));
    ActView aE = a, aO = a, aF = a;
    aE.k = E;
    aO.k = Hv * D;  // = H · Da
    float *y0 = device_zeros<float>(kMaxRows * V), *y1 = device_zeros<float>(kMaxRows * V), *y2 = device_zeros<float>(kMaxRows * V),
          *y3 = device_zeros<float>(kMaxRows * V);
    float *state = device_zeros<float>(Hv * D * D), *conv = device_zeros<float>(4 * Cc);
    float* norm_w = device_zeros<float>(4 * Cc);  // zeros for every norm weight, bias and the conv1d taps
    void *scratch = nullptr, *am_scratch = nullptr;
    CHECK_CUDA(cudaMalloc(&scratch, attention_scratch_bytes(H, Da, n_ctx)));
    CHECK_CUDA(cudaMalloc(&am_scratch, argmax_scratch_bytes(V)));
    __half* q16 = nullptr;
    CHECK_CUDA(cudaMalloc(&q16, sizeof(__half) * kMaxRows * H * Da));
    __half *kc = device_zeros<__half>(n_ctx * Hkv * Da), *vc = device_zeros<__half>(n_ctx * Hkv * Da);
    const std::vector<int> pos = {300};
    int* dpos = to_device(pos);
    auto mv = [&](std::initializer_list<std::pair<Cycled*, float*>> ms, ActView x, bool add, cudaStream_t s, int nr) {
        std::vector<MatvecOut> outs;
        for (const auto& [c, y] : ms) {
            const DevMatrix* w = c->get();
            outs.push_back({w, y, w->n, add});
        }
        return launch_matvec(s, outs.data(), static_cast<int>(outs.size()), x, nr);
    };
    const GdnParams gp{Hk, Hv, D, D, Cc, 1e-6f};
    const RopeParams rp{H, Hkv, Da, 64, {11, 11, 10, 0}, 1e7f, 1.0f, 1.0f, 1e-6f};
    const std::vector<StepKernel> rows = {
        {"rms_norm + quantize Q8_K (E)", 17, [&](cudaStream_t s, int nr) { return launch_rms_norm(s, y3, E, norm_w, aE.f, E, E, nr, 1e-6f, aE, ActFormat::Q8_K); }},
        {"matvec GDN in (qkv, z, beta, alpha; Q4_K)", 6, [&](cudaStream_t s, int nr) { return mv({{&qkv, y0}, {&z, y1}, {&beta, y2}, {&alpha, y3}}, aE, false, s, nr); }},
        {"conv1d_update", 6, [&](cudaStream_t s, int nr) { return launch_conv1d_update(s, y0, conv, norm_w, y0, nullptr, 0, 0, nr, Cc, 4); }},
        {"gated_delta_net (48 heads of 128)", 6, [&](cudaStream_t s, int nr) { return launch_gated_delta_net(s, gp, y0, y1, y2, y3, norm_w, norm_w, norm_w, state, nullptr, 0, 0, nr, aO.f, nullptr, nullptr); }},
        {"quantize Q8_K (6144)", 8, [&](cudaStream_t s, int nr) { return launch_quantize(s, aO, nr, ActFormat::Q8_K); }},
        {"matvec ssm_out (Q4_K, + residual)", 6, [&](cudaStream_t s, int nr) { return mv({{&ssm_out, y2}}, aO, true, s, nr); }},
        {"matvec attention q, k (Q4_K)", 2, [&](cudaStream_t s, int nr) { return mv({{&wq, y0}, {&wk, y1}}, aE, false, s, nr); }},
        {"matvec attention v (Q6_K)", 2, [&](cudaStream_t s, int nr) { return mv({{&wv, y2}}, aE, false, s, nr); }},
        {"qk_norm_rope_store", 2, [&](cudaStream_t s, int nr) { return launch_qk_norm_rope_store(s, rp, y0, y1, y2, norm_w, norm_w, dpos, 0, nr, q16, kc, vc); }},
        {"gated_attention (301 positions)", 2, [&](cudaStream_t s, int nr) { return launch_gated_attention(s, q16, y0, kc, vc, dpos, 0, nr, H, Hkv, Da, n_ctx, scratch, aO.f, nullptr, nullptr); }},
        {"matvec attn_output (Q4_K, + residual)", 2, [&](cudaStream_t s, int nr) { return mv({{&wo, y2}}, aO, true, s, nr); }},
        // As the library runs them: SwiGLU in the gate/up launch, then the quantization alone.
        {"matvec ffn gate, up + SwiGLU (Q4_K)", 8, [&](cudaStream_t s, int nr) {
             aF.k = F;
             return launch_matvec_swiglu(s, *gate.get(), *up.get(), aF.f, aE, nr);
         }},
        {"quantize Q8_K (17408)", 8, [&](cudaStream_t s, int nr) { aF.k = F; return launch_quantize(s, aF, nr, ActFormat::Q8_K); }},
        {"matvec ffn_down (Q4_K, + residual)", 4, [&](cudaStream_t s, int nr) { aF.k = F; return mv({{&down4, y2}}, aF, true, s, nr); }},
        {"matvec ffn_down (Q6_K, + residual)", 4, [&](cudaStream_t s, int nr) { aF.k = F; return mv({{&down6, y2}}, aF, true, s, nr); }},
        {"matvec lm_head (Q6_K 5120 -> 248320)", 1, [&](cudaStream_t s, int nr) { return mv({{&head, y0}}, aE, false, s, nr); }},
        {"argmax (248320)", 1, [&](cudaStream_t s, int nr) { return launch_argmax(s, y0, V, nr, am_scratch, reinterpret_cast<int*>(y1)); }},
    };
    print_step_table("dense", rows);
    // The same kernels as one step in layer order (qwen35's attention every 4th layer; Q4_K_M's
    // Q6_K ffn_down on layers 0, 3, 6, 7), 20 steps a graph: beside the table's sum, what the kernels
    // cost back to back — the gaps between different kernels and what programmatic launch overlaps.
    enum : int { kNorm, kGdnIn, kConv, kGdn, kQuant, kSsmOut, kQk, kV, kRope, kAttn, kWo, kGateUp, kSwiglu, kDown4, kDown6, kHead, kArgmax };
    if (rows.size() != kArgmax + 1) {
        std::fprintf(stderr, "bench dense: the step's enum does not name the table's %zu rows\n", rows.size());
        std::exit(1);
    }
    std::vector<int> seq;
    for (int layer = 0; layer < 8; layer++) {
        const bool attn = layer % 4 == 3, down6 = layer == 0 || layer == 3 || layer >= 6;
        if (attn) {
            seq.insert(seq.end(), {kNorm, kQk, kV, kRope, kAttn, kQuant, kWo});
        } else {
            seq.insert(seq.end(), {kNorm, kGdnIn, kConv, kGdn, kQuant, kSsmOut});
        }
        seq.insert(seq.end(), {kNorm, kGateUp, kSwiglu, down6 ? kDown6 : kDown4});
    }
    seq.insert(seq.end(), {kNorm, kHead, kArgmax});
    // The table's kernels ks in order, for nr rows; skip: one left out (-1: none).
    auto launch_all = [&](const std::vector<int>& ks, cudaStream_t s, int nr, int skip) {
        for (const int k : ks) {
            if (k == skip) continue;
            const cudaError_t e = rows[k].launch(s, nr);
            if (e != cudaSuccess) return e;
        }
        return cudaSuccess;
    };
    auto step = [&](cudaStream_t s, int nr, int skip) { return launch_all(seq, s, nr, skip); };
    float us[3];
    for (int i = 0; i < 3; i++) us[i] = graph_time_us([&](cudaStream_t s) { return step(s, kStepWidths[i], -1); }, 20);
    std::printf("bench dense step (one graph, layer order): %.0f us (1 row), %.0f us (2 rows, %.2fx), %.0f us (4 rows, %.2fx)\n", us[0], us[1],
                us[1] / us[0], us[2], us[2] / us[0]);
    // MTP_BENCH_SEQS="qk,v,rope;qk,rope;…": instead of the in-place table, the time of each kernel
    // sequence named (the enum's names), 20 of it back to back in a graph — to find which neighbours
    // make a kernel cost more in place than alone.
    if (const char* env = std::getenv("MTP_BENCH_SEQS")) {
        // The enum's kernels, in its order.
        const std::vector<std::string> names = {"norm", "gdnin", "conv", "gdn", "quant", "ssmout", "qk", "v", "rope",
                                                "attn", "wo", "gateup", "quantf", "down4", "down6", "head", "argmax"};
        if (names.size() != rows.size()) {
            std::fprintf(stderr, "MTP_BENCH_SEQS: %zu names for the table's %zu rows\n", names.size(), rows.size());
            std::exit(1);
        }
        std::stringstream all(env);
        for (std::string one; std::getline(all, one, ';');) {
            std::vector<int> custom;
            std::stringstream parts(one);
            for (std::string name; std::getline(parts, name, ',');) {
                const auto it = std::find(names.begin(), names.end(), name);
                if (it == names.end()) {
                    std::fprintf(stderr, "MTP_BENCH_SEQS: unknown kernel '%s'\n", name.c_str());
                    std::exit(1);
                }
                custom.push_back(static_cast<int>(it - names.begin()));
            }
            float t[2];
            for (int i = 0; i < 2; i++) t[i] = graph_time_us([&](cudaStream_t s) { return launch_all(custom, s, kStepWidths[2 * i], -1); }, 20);
            std::printf("bench dense seq %-40s %7.1f us (1 row) %7.1f us (4 rows)\n", one.c_str(), t[0], t[1]);
        }
    } else {
        // What each kernel costs in place: the step without it (its launches' time back to back, gaps
        // included — what fusing it into a neighbour could save at most).
        for (int k = 0; k < static_cast<int>(rows.size()); k++) {
            float without[2];
            for (int i = 0; i < 2; i++) without[i] = graph_time_us([&](cudaStream_t s) { return step(s, kStepWidths[2 * i], k); }, 20);
            std::printf("bench dense step without %-44s × %2d: %5.0f us (1 row; %5.1f us a launch in place), %5.0f us (4 rows; %5.1f)\n", rows[k].name,
                        rows[k].per_step, without[0], (us[0] - without[0]) / rows[k].per_step, without[1], (us[2] - without[1]) / rows[k].per_step);
        }
    }
    for (void* p : {static_cast<void*>(y0), static_cast<void*>(y1), static_cast<void*>(y2), static_cast<void*>(y3),
                    static_cast<void*>(state), static_cast<void*>(conv), static_cast<void*>(norm_w), scratch, am_scratch,
                    static_cast<void*>(q16), static_cast<void*>(kc), static_cast<void*>(vc), static_cast<void*>(dpos)}) {
        cudaFree(p);
    }
    free_act(a);
    for (Cycled* c : {&qkv, &z, &beta, &alpha, &ssm_out, &wq, &wk, &wv, &wo, &gate, &up, &down4, &down6, &head}) {
        for (DevMatrix& d : c->m) free_matrix(d);
    }
}

}  // namespace

// cuda-kernels-check [GROUP …]: every check and bench, or the checks of the groups named (matvec,
// lowbit, embed, gemm, moe, norm, sampling, gdn, attention) and with `bench` their benches (`bench`
// alone: every bench; `decode` and `dense` name the tiny-code and 27B-shape decode-step kernels'
// benches) — `bench attention` runs attention alone, e.g. under ncu.
int main(int argc, char** argv) {
    const std::vector<std::string> groups(argv + 1, argv + argc);
    const std::vector<std::string> known = {"matvec", "lowbit", "embed", "gemm", "moe", "norm", "sampling", "gdn", "attention", "decode", "dense", "bench"};
    for (const std::string& g : groups) {
        if (std::find(known.begin(), known.end(), g) == known.end()) {
            std::string names;
            for (const std::string& k : known) names += (names.empty() ? "" : ", ") + k;
            std::fprintf(stderr, "cuda-kernels-check: unknown group '%s' (%s)\n", g.c_str(), names.c_str());
            return 2;
        }
    }
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        std::printf("cuda-kernels-check: no CUDA device, nothing checked\n");
        return 77;
    }
    auto want = [&](const char* g) { return groups.empty() || std::find(groups.begin(), groups.end(), g) != groups.end(); };
    // A bench runs with `bench` or its own group named (alone, or both).
    auto bench = [&](const char* g) { return groups.empty() || (want("bench") && (groups.size() == 1 || want(g))); };
    std::mt19937 rng(1234);
    if (want("matvec")) {
        for (uint32_t type : {0u, 1u, 30u, 8u, 12u, 13u, 14u}) check_matvec(type, 512, 72, rng);
        for (uint32_t type : {12u, 13u, 14u}) check_matvec(type, 2816, 37, rng);  // 11 super-blocks, a partial warp of rows
        check_matvec(0, 2048, 256, rng);  // F32 at the 35B-A3B router's shape: two rounds per thread
        check_matvec(0, 2056, 37, rng);   // F32, a last round that only some threads reach
        for (uint32_t type : {12u, 13u, 14u}) {
            check_matvec(type, 512, 5121, rng);   // one row: two weight rows a warp
            check_matvec(type, 9216, 37, rng);    // one weight row a warp (few rows; Q6_K: and wide ones)
            check_matvec(type, 2816, 9000, rng);  // more rows than warps resident at once
            check_matvec_group(type, 2816, rng);
            check_matvec_swiglu(type, 512, 4096, rng);
            check_matvec_swiglu(type, 2816, 3008, rng);
        }
    }
    // The low-bit types (matvec-lowbit.cuh): 2 super-blocks (a warp's slots 2, 3 idle), 11 (a
    // partial second round of loads), 45 (three rounds); 32-value blocks: 16, 88, 1440 blocks.
    constexpr uint32_t kLowbit[] = {2, 6, 20, 39, 10, 11, 23, 16, 17, 22, 18, 21};
    if (want("lowbit")) {
        check_iq_signs();
        for (uint32_t type : kLowbit) {
            for (int k : {512, 2816, 11520}) check_matvec(type, k, 37, rng);
            check_experts(type, 2816, rng);
        }
    }
    if (want("embed")) {
        for (uint32_t type : {0u, 1u, 30u, 8u, 12u, 13u, 14u}) check_embed(type, 512, rng);
        for (uint32_t type : kLowbit) check_embed(type, 512, rng);
    }
    if (want("gemm")) {
        check_gemm(8, 512, 72, 9, rng);     // one ragged tile of each kind
        check_gemm(8, 2816, 37, 77, rng);   // partial tiles
        check_gemm(8, 1024, 96, 128, rng);  // full tiles
    }
    if (want("moe")) {
        for (uint32_t type : {30u, 8u}) check_moe_groups(type, 512, rng);
        for (uint32_t type : {12u, 13u, 14u}) {
            for (int K : {256, 512, 768}) check_moe_groups(type, K, rng);
        }
    }
    if (want("norm")) {
        check_rms_norm(rng);
        check_mtp_input(rng);
    }
    if (want("sampling")) {
        check_argmax(rng);
        check_top_logits(rng);
        check_sample_row(rng);
    }
    if (want("gdn")) {
        check_gdn(4, 8, 64, rng);
        check_gdn(2, 6, 128, rng);
        check_gdn_rollback(2, 6, 128, rng);
    }
    if (want("attention")) {
        check_attention(rng);
        check_attention_long(rng);
    }
    const double copy_gbs = bench("matvec") || bench("lowbit") || bench("attention") ? copy_bandwidth() : 0.0;
    if (bench("matvec")) {
        for (uint32_t type : {8u, 30u, 12u, 13u, 14u}) bench_matvec(type, 5120, 17408, copy_gbs, rng);  // 27B ffn_up
        bench_matvec(12, 17408, 5120, copy_gbs, rng);                                                 // 27B ffn_down
        bench_matvec(14, 5120, 65536, copy_gbs, rng);                                                 // a quarter of the 27B LM head
        // Q4_K at 528 and 1056 tiles of 16 rows (one and two full waves of the 2–8-row kernel's 4
        // blocks per SM on 132 SMs) beside 17408's 1088: what a last, nearly empty wave costs.
        for (int n : {8448, 16896}) bench_matvec(12, 5120, n, copy_gbs, rng);
    }
    if (bench("lowbit")) {
        for (uint32_t type : kLowbit) bench_matvec(type, 5120, 17408, copy_gbs, rng);
    }
    if (bench("gemm")) bench_gemm(8, 5120, 17408, 128, rng);  // 27B ffn_up, a 128-row prefill chunk
    if (bench("decode")) bench_decode_kernels(rng);
    if (bench("dense")) bench_dense_kernels(rng);
    if (bench("attention")) bench_attention_long(copy_gbs, rng);
    if (bench("moe")) bench_moe_kernels(rng);
    std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}

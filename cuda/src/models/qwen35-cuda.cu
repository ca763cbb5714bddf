// The qwen35 trunk and MTP head on the GPU (see qwen35-cuda.h), structured like the CPU backend
// (cuda/cpu/qwen35-cpu.cpp): one function per block part, activations as row-major (rows, width)
// float matrices, the kernels of src/kernels doing the math.
//
// A batch runs in chunks of at most kChunkRows = 128 tokens through the whole trunk, layer by
// layer: Q8_0 matrices over more than kMaxRows = 8 rows (a prompt) go to the tensor-core GEMM
// (gemm.cuh), other types to 8-row matvecs (the K-quants' run on the tensor cores too); the
// recurrences and attention run on 8-row pieces (they are sequential per token anyway). Every
// kernel computes a token row with the same operations whatever the chunk's width — the GEMM
// replays the matvec's arithmetic — so a token's logits are bitwise independent of the batch it is
// in, and greedy speculative decoding equals greedy plain decoding.
//
// Device state of a session:
//   ints      (2 + n_ctx) int32: [trunk n_past, MTP n_past, tokens of the batch] — the kernels read
//             positions and tokens here, so a captured graph is replayed for every step
//   KV        per attention layer: K, V (n_ctx, Hkv, D) f16; the MTP head's (n_ctx + 1, Hkv, D): a
//             greedy step computes MTP rows one position past the trunk's (greedy_step, step 3)
//   conv      (n_gdn, Kc−1, Cc) and ssm (n_gdn, Hv, Dv, Dk) float: the GDN states, zero at reset
//   snapshots conv (n_gdn, n_snap, Kc−1, Cc), ssm (n_gdn, n_snap, Hv, Dv, Dk): plane t = the state
//             after token t < batch − 1 of the last batch (written when 1 < batch <= n_snap =
//             n_draft_max + 1); keep(n) makes the next trunk batch start from plane n − 1 of every
//             layer (d_live, uploaded with the step inputs) instead of copying it back
//   scratch   the activations of one chunk (kChunkRows rows), attention's (8 rows over n_ctx + 1
//             positions: attention.cuh), logits (8, V)
//   greedy    the step's argmaxes (2, 8) int32 [verify rows | MTP rows]; the chain's first h' (E)
//
// Steps: the batch's tokens and positions go to a pinned buffer, the work is issued to the stream
// (or a graph captured for this shape is replayed: trunk widths 1..n_snap with a logits tail, MTP
// widths 1..n_snap + 1, greedy steps per k), the requested logits and hidden rows come back to
// pinned buffers, and one stream synchronization ends the step. A greedy step (greedy_step) keeps
// everything on the device — drafts feed the verify batch, the verify argmaxes feed the MTP rows —
// and returns only token ids.
#include "qwen35-cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "../kernels/argmax.cuh"
#include "../kernels/attention.cuh"
#include "../kernels/conv1d.cuh"
#include "../kernels/embed.cuh"
#include "../kernels/gated-delta-net.cuh"
#include "../kernels/gemm.cuh"
#include "../kernels/matvec.cuh"
#include "../kernels/moe.cuh"
#include "../kernels/rms-norm.cuh"
#include "../kernels/rope.cuh"
#include "../kernels/sample.cuh"
#include "../kernels/swiglu.cuh"
#include "../kernels/top-logits.cuh"
#include "../runtime/failure.h"

namespace mtp {

using cuda::ActFormat;
using cuda::ActView;
using cuda::DevMatrix;
using cuda::kMaxRows;
using cuda::MatvecOut;

namespace {

constexpr int kChunkRows = 128;  // rows of a trunk chunk (memoryEstimate.ts counts its scratch)

[[noreturn]] void cuda_fail(cudaError_t e, const char* what) {
    fail(e == cudaErrorMemoryAllocation ? MTP_STATUS_OUT_OF_MEMORY : MTP_STATUS_INTERNAL, "CUDA %s: %s (%s)", what,
         cudaGetErrorString(e), cudaGetErrorName(e));
}

void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) cuda_fail(e, what);
}

bool env_is(const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v && std::strcmp(v, value) == 0;
}

// Device allocations freed together.
std::atomic<uint64_t> g_allocated_bytes{0};  // cuda_allocated_bytes: all arenas' allocations

class DeviceArena {
public:
    ~DeviceArena() {
        for (void* p : blocks_) cudaFree(p);
        g_allocated_bytes -= bytes_;
    }
    template <typename T>
    T* alloc(size_t count, const char* what) {
        void* p = nullptr;
        const size_t bytes = std::max<size_t>(1, count * sizeof(T));
        check(cudaMalloc(&p, bytes), what);
        blocks_.push_back(p);
        bytes_ += bytes;
        g_allocated_bytes += bytes;
        return static_cast<T*>(p);
    }

private:
    std::vector<void*> blocks_;
    uint64_t bytes_ = 0;
};

}  // namespace

bool cuda_device_available(std::string* why) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        // No libcuda at all reads as "insufficient driver" too: say what the user can act on.
        const char* what = e == cudaErrorInsufficientDriver ? "no NVIDIA driver, or one older than this library's CUDA runtime needs"
                           : e == cudaErrorNoDevice         ? "no CUDA device"
                                                            : "CUDA is not usable";
        if (why) *why = std::string(what) + " (cudaGetDeviceCount: " + cudaGetErrorString(e) + ")";
        cudaGetLastError();  // not sticky: clear it
        return false;
    }
    if (n == 0) {
        if (why) *why = "no CUDA device";
        return false;
    }
    return true;
}

bool cuda_supports_type(uint32_t type) {
    switch (type) {
        case MTP_GGML_TYPE_F32: case MTP_GGML_TYPE_F16: case MTP_GGML_TYPE_BF16: case MTP_GGML_TYPE_Q8_0:
        case MTP_GGML_TYPE_Q4_K: case MTP_GGML_TYPE_Q5_K: case MTP_GGML_TYPE_Q6_K:
        case MTP_GGML_TYPE_Q4_0: case MTP_GGML_TYPE_Q5_0: case MTP_GGML_TYPE_Q2_K: case MTP_GGML_TYPE_Q3_K: case MTP_GGML_TYPE_IQ4_NL: case MTP_GGML_TYPE_IQ4_XS:
        case MTP_GGML_TYPE_MXFP4: case MTP_GGML_TYPE_IQ2_XXS: case MTP_GGML_TYPE_IQ2_XS: case MTP_GGML_TYPE_IQ2_S:
        case MTP_GGML_TYPE_IQ3_XXS: case MTP_GGML_TYPE_IQ3_S: return true;
        default: return false;
    }
}

uint64_t cuda_allocated_bytes() { return g_allocated_bytes.load(); }

void cuda_device_memory(uint64_t* free_bytes, uint64_t* total_bytes) {
    std::string why;
    if (!cuda_device_available(&why)) fail(MTP_STATUS_UNSUPPORTED, "device memory: %s", why.c_str());
    size_t f = 0, t = 0;
    check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
    *free_bytes = f;
    *total_bytes = t;
}

// ---- Weights

struct CudaWeights::Impl {
    DeviceArena arena;
    std::unordered_map<const Tensor*, DevMatrix> matrices;
    std::unordered_map<const Tensor*, const float*> vectors;

    const DevMatrix& mat(const Tensor& t) const {
        const auto it = matrices.find(&t);
        if (it == matrices.end()) fail(MTP_STATUS_INTERNAL, "CUDA weights: matrix '%s' was not uploaded", t.name.c_str());
        return it->second;
    }
    const float* vec(const Tensor& t) const {
        const auto it = vectors.find(&t);
        if (it == vectors.end()) fail(MTP_STATUS_INTERNAL, "CUDA weights: vector '%s' was not uploaded", t.name.c_str());
        return it->second;
    }

    template <typename T>
    const T* upload(const void* src, size_t count, const char* what) {
        T* d = arena.alloc<T>(count, what);
        check(cudaMemcpy(d, src, count * sizeof(T), cudaMemcpyHostToDevice), what);
        return d;
    }

    void add(const Tensor& t) {
        if (!t.present || matrices.count(&t) || vectors.count(&t)) return;
        if (t.f32) {
            vectors[&t] = upload<float>(t.f32, static_cast<size_t>(t.ne[0] * t.ne[1]), "upload of a weight vector");
            return;
        }
        DevMatrix m;
        m.type = t.type;
        m.k = static_cast<int>(t.ne[0]);
        m.n = static_cast<int>(t.ne[1] * t.ne[2]);  // stacked experts (ne[2]) as one matrix of all their rows
        const size_t n = static_cast<size_t>(m.n);
        if (cuda::repacked(t.type)) {
            // Q8_0, Q6_K, Q4_0, Q5_0, IQ4_NL, MXFP4, Q3_K, IQ2_*, IQ3_*: the block scale moved out as a float,
            // so the rest of each block is aligned for the kernels' wide loads (matvec.cuh).
            const cuda::RepackedMatrix r = cuda::repack_matrix(t.type, t.data, t.row_bytes, m.k, m.n);
            m.data = upload<uint8_t>(r.data.data(), r.data.size(), "upload of a repacked matrix");
            m.scale = upload<float>(r.scale.data(), r.scale.size(), "upload of a repacked matrix's scales");
            m.row_bytes = r.row_bytes;
        } else {
            m.data = upload<uint8_t>(t.data, n * t.row_bytes, "upload of a weight matrix");
            m.row_bytes = t.row_bytes;
        }
        matrices[&t] = m;
    }
};

CudaWeights::CudaWeights(const ModelWeights& w) : impl_(std::make_unique<Impl>()) {
    std::string why;
    if (!cuda_device_available(&why)) fail(MTP_STATUS_UNSUPPORTED, "backend CUDA: %s", why.c_str());
    impl_->add(w.token_embd);
    impl_->add(w.output_norm);
    impl_->add(w.output);
    for (const LayerWeights& L : w.layers) {
        for (const Tensor& t : L.by_role) impl_->add(t);
    }
}

CudaWeights::~CudaWeights() = default;

// ---- Session

namespace {

// An activation buffer of kChunkRows rows and the format its quantized part holds now.
struct Act {
    ActView v{};
    ActFormat ready = ActFormat::F32;
};

// A page-locked host buffer that only grows (graphs hold its address: growing drops them).
struct Pinned {
    void* p = nullptr;
    size_t bytes = 0;
    ~Pinned() {
        if (p) cudaFreeHost(p);
    }
    bool grow(size_t need, const char* what) {
        if (need <= bytes) return false;
        if (p) cudaFreeHost(p);
        p = nullptr;
        bytes = 0;
        check(cudaMallocHost(&p, need), what);
        bytes = need;
        return true;
    }
    float* f() const { return static_cast<float*>(p); }
};

// What a sampled step copies back besides the candidates and hidden rows.
struct SampledOut {
    int32_t drafts[kMaxRows];
    int32_t dist_n[kMaxRows];
    int32_t used;  // uniforms taken
    TokenProb dist[kMaxRows][cuda::kMaxTopLogits];
};

}  // namespace

struct CudaSession::Impl {
    const ModelWeights& w;
    const mtp_hparams& hp;
    CudaWeights::Impl& cw;
    const uint32_t n_ctx, n_snap;
    uint32_t n_past = 0, mtp_n_past = 0, batch_start = 0, batch_n = 0;
    std::string fault;  // the first CUDA failure; the session refuses work after one
    bool use_graphs, sync_each_launch, capturing = false;
    bool greedy_steps;  // offer greedy_step (MTP_CUDA_GREEDY_STEP=0: the loop composes greedy steps)
    bool sampled_steps; // offer sampled_step (MTP_CUDA_SAMPLED_STEP=0: the loop composes sampled steps)
    cudaStream_t stream = nullptr;
    DeviceArena arena;

    std::vector<int> slot;  // (n_layer) index into the KV caches or the GDN states, by layer kind
    std::vector<__half*> k_cache, v_cache;  // per attention layer: (n_ctx, Hkv, D)
    __half *mtp_k = nullptr, *mtp_v = nullptr;
    int n_gdn = 0;
    size_t conv_plane = 0, ssm_plane = 0;  // floats of one layer's state
    float *conv = nullptr, *ssm = nullptr;            // (n_gdn, plane)
    float *conv_snap = nullptr, *ssm_snap = nullptr;  // (n_gdn, n_snap, plane)

    // The step inputs: d_ints (2 + n_ctx) = trunk n_past, MTP n_past, tokens; the int before it
    // (d_live) the snapshot plane + 1 the next trunk batch starts its states from, 0 for the states
    // themselves (keep() rolls back by naming a plane instead of copying it). Copied together.
    int* d_ints = nullptr;
    int* d_live = nullptr;
    Pinned h_step;     // its host side: [live, ints…]
    int live = 0;      // what the next trunk batch uploads as d_live
    // The host side of d_ints with its head — live, trunk n_past, MTP n_past — filled in; a step's
    // tokens go from index 2.
    int* step_inputs() const {
        int* ints = static_cast<int*>(h_step.p) + 1;
        ints[-1] = live;
        ints[0] = static_cast<int>(n_past);
        ints[1] = static_cast<int>(mtp_n_past);
        return ints;
    }
    Pinned h_logits, h_hidden, h_hidden_in;
    Pinned h_top;                  // (kMaxRows, kMaxTopLogits) TokenLogit: sampling's candidates
    TokenLogit* d_top = nullptr;   // their device side, one LM-head piece
    void* top_scratch = nullptr;   // top_logits_scratch_bytes(V, kMaxTopLogits)
    float* d_hidden_in = nullptr;  // (hidden_in_rows, E) MTP input rows
    size_t hidden_in_rows = 0;
    int* d_argmax = nullptr;       // (2, kMaxRows) a greedy step's argmaxes: verify rows, MTP rows
    void* argmax_scratch = nullptr;  // argmax_scratch_bytes(V)
    float* chain_h = nullptr;      // (E) h' of a greedy step's first draft, for the draft chain
    Pinned h_greedy;               // (3, kMaxRows) int32: drafts d_1 … d_k, then d_argmax
    // A sampled step's draft chain (with the sampling candidates): its arguments, the MTP row's
    // candidates, the drafts' distributions; their host side.
    cuda::SampleArgs* d_sample = nullptr;
    TokenLogit* d_mtp_top = nullptr;  // (kMaxTopLogits)
    TokenProb* d_dist = nullptr;      // (kMaxRows, kMaxTopLogits)
    int* d_dist_n = nullptr;          // (kMaxRows) items of each
    Pinned h_sample;                  // SampleArgs
    Pinned h_sampled;                 // SampledOut

    // Chunk scratch, kChunkRows (C) rows each.
    float* x = nullptr;                   // (C, E) residual stream
    Act a, c, attn_o, gdn_o, ffn_h, hf;  // normed input (E), MTP concat (2E), attention out (H·D), GDN out (Hv·Dv), SwiGLU (F), h_final (E)
    // F: the dense FFN's width, or the shared expert's (qwen35moe), whose FFN these buffers serve.
    Act mh;                               // (C, E) the MTP head's h' rows (its shared_head_norm output)
    float *qg = nullptr, *kb = nullptr, *vb = nullptr;  // (C, 2HD), (C, Hkv·D), (C, Hkv·D)
    __half* q16 = nullptr;                              // (C, H, D)
    void* attn_scratch = nullptr;                       // attention_scratch_bytes over n_ctx + 1 positions: attention runs on 8-row pieces
    float *qkv = nullptr, *conv_y = nullptr, *z = nullptr, *beta = nullptr, *alpha = nullptr;  // (C, Cc) ×2, (C, Hv·Dv), (C, Hv) ×2
    float *ffn_g = nullptr, *ffn_u = nullptr;  // (C, F)
    float* logits = nullptr;                   // (8, V): the LM head runs on 8-row pieces
    // qwen35moe (X experts, k used, of width Fe): pair p = t·k + j is token t's j-th expert.
    float *router = nullptr, *shexp_gate = nullptr, *shexp = nullptr;  // (C, X), (C), (C, E)
    int *expert_ids = nullptr, *expert_groups = nullptr;                // (C·k), (2·C·k + 2): moe.cuh
    float *expert_w = nullptr, *expert_g = nullptr, *expert_u = nullptr, *expert_y = nullptr;  // (C·k), (C·k, Fe) ×2, (C·k, E)
    Act expert_h;                                                       // (C·k, Fe) SwiGLU of the experts

    // Captured steps: (kind 0 = trunk / 1 = MTP / 2 = greedy step / 4 = trunk with its logits left on
    // the device, rows (k for 2), first logits row (MTP rows wanted for 2), hidden wanted).
    // The last element: top_k for steps that return sampling candidates instead of logits (0: logits).
    std::map<std::tuple<int, int, int, bool, int>, cudaGraphExec_t> graphs;

    Impl(const ModelWeights& w_, CudaWeights::Impl& cw_, uint32_t n_ctx_, uint32_t n_draft_max)
        : w(w_), hp(w_.hp), cw(cw_), n_ctx(n_ctx_), n_snap(n_draft_max + 1) {
        sync_each_launch = env_is("MTP_CUDA_SYNC", "1");
        use_graphs = !env_is("MTP_CUDA_GRAPHS", "0") && !sync_each_launch;
        greedy_steps = !env_is("MTP_CUDA_GREEDY_STEP", "0");
        sampled_steps = !env_is("MTP_CUDA_SAMPLED_STEP", "0");
        check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
        const size_t E = hp.n_embd, H = hp.n_head, Hkv = hp.n_head_kv, D = hp.head_dim;
        const size_t Cc = hp.ssm_conv_channels, Kc = hp.ssm_conv_kernel, Hv = hp.ssm_n_value_heads;
        const bool moe = hp.arch == MTP_ARCH_QWEN35MOE;
        const size_t Dv = hp.ssm_value_head_dim, Dk = hp.ssm_key_head_dim, F = moe ? hp.n_ff_shexp : hp.n_ff, V = hp.n_vocab;
        const size_t kv = static_cast<size_t>(n_ctx) * Hkv * D;
        for (uint32_t il = 0; il < hp.n_layer; il++) {
            if (w.layer_kinds[il] == MTP_LAYER_KIND_ATTENTION) {
                slot.push_back(static_cast<int>(k_cache.size()));
                k_cache.push_back(arena.alloc<__half>(kv, "cudaMalloc of a KV cache"));
                v_cache.push_back(arena.alloc<__half>(kv, "cudaMalloc of a KV cache"));
            } else {
                slot.push_back(n_gdn++);
            }
        }
        if (hp.n_mtp > 0) {
            const size_t mtp_kv = (static_cast<size_t>(n_ctx) + 1) * Hkv * D;
            mtp_k = arena.alloc<__half>(mtp_kv, "cudaMalloc of the MTP KV cache");
            mtp_v = arena.alloc<__half>(mtp_kv, "cudaMalloc of the MTP KV cache");
        }
        conv_plane = (Kc - 1) * Cc;
        ssm_plane = Hv * Dv * Dk;
        conv = arena.alloc<float>(n_gdn * conv_plane, "cudaMalloc of the conv states");
        ssm = arena.alloc<float>(n_gdn * ssm_plane, "cudaMalloc of the recurrent states");
        conv_snap = arena.alloc<float>(n_gdn * n_snap * conv_plane, "cudaMalloc of the conv snapshots");
        ssm_snap = arena.alloc<float>(n_gdn * n_snap * ssm_plane, "cudaMalloc of the recurrent snapshots");

        d_live = arena.alloc<int>(3 + n_ctx, "cudaMalloc of the step inputs");
        d_ints = d_live + 1;
        h_step.grow((3 + n_ctx) * sizeof(int), "cudaMallocHost of the step inputs");
        x = arena.alloc<float>(kChunkRows * E, "cudaMalloc of the residual stream");
        a = act(E);
        c = act(2 * E);
        attn_o = act(H * D);
        gdn_o = act(Hv * Dv);
        ffn_h = act(F);
        hf = act(E);
        mh = act(E);
        qg = arena.alloc<float>(kChunkRows * 2 * H * D, "cudaMalloc of attention scratch");
        kb = arena.alloc<float>(kChunkRows * Hkv * D, "cudaMalloc of attention scratch");
        vb = arena.alloc<float>(kChunkRows * Hkv * D, "cudaMalloc of attention scratch");
        q16 = arena.alloc<__half>(kChunkRows * H * D, "cudaMalloc of attention scratch");
        attn_scratch = arena.alloc<uint8_t>(cuda::attention_scratch_bytes(static_cast<int>(H), static_cast<int>(D), static_cast<int>(n_ctx) + 1),
                                            "cudaMalloc of the attention scratch");
        qkv = arena.alloc<float>(kChunkRows * Cc, "cudaMalloc of GDN scratch");
        conv_y = arena.alloc<float>(kChunkRows * Cc, "cudaMalloc of GDN scratch");
        z = arena.alloc<float>(kChunkRows * Hv * Dv, "cudaMalloc of GDN scratch");
        beta = arena.alloc<float>(kChunkRows * Hv, "cudaMalloc of GDN scratch");
        alpha = arena.alloc<float>(kChunkRows * Hv, "cudaMalloc of GDN scratch");
        ffn_g = arena.alloc<float>(kChunkRows * F, "cudaMalloc of FFN scratch");
        ffn_u = arena.alloc<float>(kChunkRows * F, "cudaMalloc of FFN scratch");
        if (moe) {
            const size_t X = hp.n_expert, pairs = kChunkRows * static_cast<size_t>(hp.n_expert_used), Fe = hp.n_ff_exp;
            router = arena.alloc<float>(kChunkRows * X, "cudaMalloc of MoE scratch");
            shexp_gate = arena.alloc<float>(kChunkRows, "cudaMalloc of MoE scratch");
            shexp = arena.alloc<float>(kChunkRows * E, "cudaMalloc of MoE scratch");
            expert_ids = arena.alloc<int>(pairs, "cudaMalloc of MoE scratch");
            expert_groups = arena.alloc<int>(2 * pairs + 2, "cudaMalloc of MoE scratch");
            expert_w = arena.alloc<float>(pairs, "cudaMalloc of MoE scratch");
            expert_g = arena.alloc<float>(pairs * Fe, "cudaMalloc of MoE scratch");
            expert_u = arena.alloc<float>(pairs * Fe, "cudaMalloc of MoE scratch");
            expert_y = arena.alloc<float>(pairs * E, "cudaMalloc of MoE scratch");
            expert_h = act(Fe, pairs);
        }
        logits = arena.alloc<float>(kMaxRows * V, "cudaMalloc of the logits");
        argmax_scratch = arena.alloc<uint8_t>(cuda::argmax_scratch_bytes(static_cast<int>(V)), "cudaMalloc of the argmax scratch");
        if (cuda::top_logits_supported(static_cast<int>(V), cuda::kMaxTopLogits)) {
            d_top = arena.alloc<TokenLogit>(kMaxRows * cuda::kMaxTopLogits, "cudaMalloc of the sampling candidates");
            top_scratch = arena.alloc<uint8_t>(cuda::top_logits_scratch_bytes(static_cast<int>(V), cuda::kMaxTopLogits),
                                               "cudaMalloc of the sampling candidates");
            h_top.grow(kMaxRows * cuda::kMaxTopLogits * sizeof(TokenLogit), "cudaMallocHost of the sampling candidates");
            d_sample = arena.alloc<cuda::SampleArgs>(1, "cudaMalloc of the sampled step's arguments");
            d_mtp_top = arena.alloc<TokenLogit>(cuda::kMaxTopLogits, "cudaMalloc of the sampled step's candidates");
            d_dist = arena.alloc<TokenProb>(kMaxRows * cuda::kMaxTopLogits, "cudaMalloc of the drafts' distributions");
            d_dist_n = arena.alloc<int>(kMaxRows, "cudaMalloc of the drafts' distributions");
            h_sample.grow(sizeof(cuda::SampleArgs), "cudaMallocHost of the sampled step's arguments");
            h_sampled.grow(sizeof(SampledOut), "cudaMallocHost of the sampled step's results");
        }
        d_argmax = arena.alloc<int>(2 * kMaxRows, "cudaMalloc of the greedy step's tokens");
        chain_h = arena.alloc<float>(E, "cudaMalloc of the draft chain's input");
        h_greedy.grow(3 * kMaxRows * sizeof(int), "cudaMallocHost of the greedy step's tokens");
        zero_states();
        check(cudaStreamSynchronize(stream), "session setup");
    }

    ~Impl() {
        drop_graphs();
        if (stream) cudaStreamDestroy(stream);
    }

    Act act(size_t k, size_t rows = kChunkRows) {
        Act r;
        r.v.k = static_cast<int>(k);
        r.v.f = arena.alloc<float>(rows * k, "cudaMalloc of activations");
        r.v.q = arena.alloc<int8_t>(rows * k, "cudaMalloc of activations");
        r.v.d = arena.alloc<float>(rows * (k / 32 + 1), "cudaMalloc of activations");
        return r;
    }

    void drop_graphs() {
        for (auto& [key, exec] : graphs) cudaGraphExecDestroy(exec);
        graphs.clear();
    }

    void zero_states() {
        check(cudaMemsetAsync(conv, 0, n_gdn * conv_plane * sizeof(float), stream), "cudaMemsetAsync of the conv states");
        check(cudaMemsetAsync(ssm, 0, n_gdn * ssm_plane * sizeof(float), stream), "cudaMemsetAsync of the recurrent states");
        live = 0;
    }

    // Refuses work after a failure; marks the session failed when fn throws.
    template <typename Fn>
    void guarded(Fn&& fn) {
        if (!fault.empty()) fail(MTP_STATUS_INTERNAL, "CUDA session unusable after an earlier failure: %s", fault.c_str());
        try {
            fn();
        } catch (const Failure& f) {
            fault = f.what();
            throw;
        }
    }

    // A launcher's status, named; with MTP_CUDA_SYNC=1 also its kernel's completion.
    void launched(cudaError_t e, const char* what) {
        check(e, what);
        if (sync_each_launch && !capturing) check(cudaStreamSynchronize(stream), what);
    }

    // ---- Forward pieces (issued to the stream; captured or not)

    float eps() const { return hp.rms_eps; }

    // y = RMSNorm(x; w) over E-wide rows, quantized for the weight type that reads it.
    void norm(const float* xin, int x_stride, const Tensor& weight, Act& out, int n, uint32_t consumer_type) {
        const ActFormat fmt = cuda::act_format_for(consumer_type);
        launched(cuda::launch_rms_norm(stream, xin, x_stride, cw.vec(weight), out.v.f, out.v.k, out.v.k, n, eps(), out.v, fmt),
                 "rms_norm");
        out.ready = fmt;
    }

    // Quantizes rows [row0, row0 + n) of `in` for a matrix of type `type` unless they already are.
    void ready_for(Act& in, uint32_t type, int n, int row0 = 0) {
        const ActFormat fmt = cuda::act_format_for(type);
        if (fmt == ActFormat::F32 || fmt == in.ready) return;
        launched(cuda::launch_quantize(stream, in.v.rows_from(row0), n, fmt), "quantize (activation)");
        in.ready = fmt;
    }

    // Several matrices with the same input: one launch per weight type, quantizing as needed.
    void matvecs(std::initializer_list<MatvecOut> outs, Act& in, int n, int row0 = 0) {
        std::vector<MatvecOut> group;
        std::vector<bool> done(outs.size(), false);
        const MatvecOut* all = outs.begin();
        for (size_t i = 0; i < outs.size(); i++) {
            if (done[i]) continue;
            group.clear();
            for (size_t j = i; j < outs.size(); j++) {
                if (!done[j] && all[j].w->type == all[i].w->type) {
                    group.push_back(all[j]);
                    done[j] = true;
                }
            }
            ready_for(in, all[i].w->type, n, row0);
            if (n <= kMaxRows) {
                launched(cuda::launch_matvec(stream, group.data(), static_cast<int>(group.size()), in.v.rows_from(row0), n), "matvec");
            } else if (cuda::gemm_supported(all[i].w->type)) {
                for (const MatvecOut& o : group) launched(cuda::launch_gemm(stream, o, in.v.rows_from(row0), n), "gemm");
            } else {
                for (int r = 0; r < n; r += kMaxRows) {  // 8-row pieces: outputs offset by r rows
                    std::vector<MatvecOut> piece(group);
                    for (MatvecOut& o : piece) o.y += static_cast<size_t>(r) * o.y_stride;
                    launched(cuda::launch_matvec(stream, piece.data(), static_cast<int>(piece.size()), in.v.rows_from(row0 + r),
                                                 std::min(kMaxRows, n - r)),
                             "matvec");
                }
            }
        }
    }

    // matvecs on RMSNorm(x; weight) of the residual stream's n rows: for one row, one launch that
    // normalizes in shared memory where the matvec supports it (all outputs of one type), else norm
    // + matvecs. Every block of the fused launch normalizes all rows itself, which costs more than
    // the separate norm launch from two rows on (cuda-kernels-check's per-width bench); both compute
    // the same bits.
    void normed_matvecs(const Tensor& weight, std::initializer_list<MatvecOut> outs, int n) {
        const int E = static_cast<int>(hp.n_embd);
        const uint32_t type = outs.begin()->w->type;
        bool one_type = true;
        for (const MatvecOut& o : outs) one_type = one_type && o.w->type == type;
        if (n == 1 && one_type && cuda::matvec_norm_supported(type, E)) {
            const cuda::NormIn in{x, E, cw.vec(weight), eps()};
            launched(cuda::launch_matvec_norm(stream, outs.begin(), static_cast<int>(outs.size()), in, E, n), "matvec (with rms_norm)");
            return;
        }
        norm(x, E, weight, a, n, type);
        matvecs(outs, a, n);
    }

    MatvecOut out(const Tensor& t, float* y, bool add = false) {
        const DevMatrix& m = cw.mat(t);
        return MatvecOut{&m, y, m.n, add};
    }

    // Gated attention block (spec §3.3) of rows [row0, row0 + n) of the batch:
    // x += ATTN(RMSNorm(x; attn_norm)).
    void attention(const LayerWeights& L, int n, const int* pos_base, int row0, __half* kc, __half* vc) {
        const int H = static_cast<int>(hp.n_head), Hkv = static_cast<int>(hp.n_head_kv), D = static_cast<int>(hp.head_dim);
        normed_matvecs(L[MTP_ROLE_ATTN_NORM], {out(L[MTP_ROLE_ATTN_Q], qg), out(L[MTP_ROLE_ATTN_K], kb), out(L[MTP_ROLE_ATTN_V], vb)}, n);
        cuda::RopeParams rp{H, Hkv, D, static_cast<int>(hp.rope_n_dims),
                            {static_cast<int>(hp.rope_sections[0]), static_cast<int>(hp.rope_sections[1]),
                             static_cast<int>(hp.rope_sections[2]), static_cast<int>(hp.rope_sections[3])},
                            hp.rope_freq_base, hp.rope_freq_scale, hp.rope_attn_factor, eps()};
        launched(cuda::launch_qk_norm_rope_store(stream, rp, qg, kb, vb, cw.vec(L[MTP_ROLE_ATTN_Q_NORM]),
                                                 cw.vec(L[MTP_ROLE_ATTN_K_NORM]), pos_base, row0, n, q16, kc, vc),
                 "qk_norm_rope_store");
        // A Q8_0 attn_output reads its activation quantized by the attention kernel itself.
        const bool fuse = cuda::act_format_for(L[MTP_ROLE_ATTN_OUTPUT].type) == ActFormat::Q8_0;
        for (int r = 0; r < n; r += kMaxRows) {  // 8-row pieces (the attention scratch)
            const size_t at = static_cast<size_t>(r) * H * D;
            launched(cuda::launch_gated_attention(stream, q16 + at, qg + 2 * at, kc, vc, pos_base, row0 + r, std::min(kMaxRows, n - r), H,
                                                  Hkv, D, static_cast<int>(n_ctx) + 1, attn_scratch, attn_o.v.f + at,
                                                  fuse ? attn_o.v.q + at : nullptr, fuse ? attn_o.v.d + at / 32 : nullptr),
                     "gated_attention");
        }
        attn_o.ready = fuse ? ActFormat::Q8_0 : ActFormat::F32;
        matvecs({out(L[MTP_ROLE_ATTN_OUTPUT], x, true)}, attn_o, n);
    }

    // Gated DeltaNet block (spec §3.5) of GDN layer g: x += GDN(RMSNorm(x; attn_norm)); the states
    // after the batch's tokens 0 … planes − 1 into the snapshot planes.
    void gated_delta_net(const LayerWeights& L, int g, int n, int row0, int planes) {
        const int Cc = static_cast<int>(hp.ssm_conv_channels);
        normed_matvecs(L[MTP_ROLE_ATTN_NORM],
                       {out(L[MTP_ROLE_ATTN_QKV], qkv), out(L[MTP_ROLE_ATTN_GATE], z), out(L[MTP_ROLE_SSM_BETA], beta),
                        out(L[MTP_ROLE_SSM_ALPHA], alpha)},
                       n);
        // The batch's first chunk starts from the plane keep() named, if any (d_live).
        const int* from_plane = row0 == 0 ? d_live : nullptr;
        launched(cuda::launch_conv1d_update(stream, qkv, conv + g * conv_plane, cw.vec(L[MTP_ROLE_SSM_CONV1D]), conv_y,
                                            conv_snap + g * n_snap * conv_plane, row0, planes, n, Cc, static_cast<int>(hp.ssm_conv_kernel),
                                            from_plane),
                 "conv1d_update");
        // A Q8_0 ssm_out reads its activation quantized by the recurrence kernel itself.
        const bool fuse = cuda::act_format_for(L[MTP_ROLE_SSM_OUT].type) == ActFormat::Q8_0;
        const cuda::GdnParams gp{static_cast<int>(hp.ssm_n_key_heads), static_cast<int>(hp.ssm_n_value_heads),
                                 static_cast<int>(hp.ssm_key_head_dim), static_cast<int>(hp.ssm_value_head_dim), Cc, eps()};
        const size_t Hv = hp.ssm_n_value_heads, vD = Hv * hp.ssm_value_head_dim;
        for (int r = 0; r < n; r += kMaxRows) {  // 8-row pieces (the kernel's batch in shared memory)
            const size_t at = static_cast<size_t>(r) * vD;
            launched(cuda::launch_gated_delta_net(stream, gp, conv_y + static_cast<size_t>(r) * Cc, z + at, beta + r * Hv, alpha + r * Hv,
                                                  cw.vec(L[MTP_ROLE_SSM_DT_BIAS]), cw.vec(L[MTP_ROLE_SSM_A]), cw.vec(L[MTP_ROLE_SSM_NORM]),
                                                  ssm + g * ssm_plane, ssm_snap + g * n_snap * ssm_plane, row0 + r, planes,
                                                  std::min(kMaxRows, n - r), gdn_o.v.f + at, fuse ? gdn_o.v.q + at : nullptr,
                                                  fuse ? gdn_o.v.d + at / 32 : nullptr, r == 0 ? from_plane : nullptr),
                     "gated_delta_net");
        }
        gdn_o.ready = fuse ? ActFormat::Q8_0 : ActFormat::F32;
        matvecs({out(L[MTP_ROLE_SSM_OUT], x, true)}, gdn_o, n);
    }

    // MoE FFN (spec §3.9, moe.cuh): x += Σ_j w_j · FFN_{e_j}(a) + σ(a·g_shexp) · FFN_shexp(a), a =
    // RMSNorm(x; post_attention_norm), the experts e_j and weights w_j routed on the device.
    void moe_ffn(const LayerWeights& L, int n) {
        const int E = static_cast<int>(hp.n_embd), X = static_cast<int>(hp.n_expert), k = static_cast<int>(hp.n_expert_used);
        const int Fe = static_cast<int>(hp.n_ff_exp), Fs = static_cast<int>(hp.n_ff_shexp), pairs = n * k;
        norm(x, E, L[MTP_ROLE_POST_ATTENTION_NORM], a, n, L[MTP_ROLE_FFN_GATE_SHEXP].type);
        matvecs({out(L[MTP_ROLE_FFN_GATE_SHEXP], ffn_g), out(L[MTP_ROLE_FFN_UP_SHEXP], ffn_u), out(L[MTP_ROLE_FFN_GATE_INP], router),
                 out(L[MTP_ROLE_FFN_GATE_INP_SHEXP], shexp_gate)},
                a, n);
        const ActFormat sh_fmt = cuda::act_format_for(L[MTP_ROLE_FFN_DOWN_SHEXP].type);
        launched(cuda::launch_swiglu(stream, ffn_g, ffn_u, Fs, n, ffn_h.v, sh_fmt), "swiglu (shared expert)");
        ffn_h.ready = sh_fmt;
        matvecs({out(L[MTP_ROLE_FFN_DOWN_SHEXP], shexp)}, ffn_h, n);
        launched(cuda::launch_moe_route(stream, router, n, X, k, expert_ids, expert_w, expert_groups), "moe_route");
        const DevMatrix &gate = cw.mat(L[MTP_ROLE_FFN_GATE_EXPS]), &up = cw.mat(L[MTP_ROLE_FFN_UP_EXPS]);
        const DevMatrix& down = cw.mat(L[MTP_ROLE_FFN_DOWN_EXPS]);
        const cuda::ExpertOut gate_up[] = {{&gate, expert_g}, {&up, expert_u}};
        ready_for(a, gate.type, n);
        if (gate.type == up.type && gate.n == up.n) {
            launched(cuda::launch_matvec_experts(stream, gate_up, 2, Fe, expert_ids, expert_groups, pairs, a.v, k), "matvec (experts' gate, up)");
        } else {
            launched(cuda::launch_matvec_experts(stream, &gate_up[0], 1, Fe, expert_ids, expert_groups, pairs, a.v, k), "matvec (experts' gate)");
            ready_for(a, up.type, n);
            launched(cuda::launch_matvec_experts(stream, &gate_up[1], 1, Fe, expert_ids, expert_groups, pairs, a.v, k), "matvec (experts' up)");
        }
        const ActFormat h_fmt = cuda::act_format_for(down.type);
        launched(cuda::launch_swiglu(stream, expert_g, expert_u, Fe, pairs, expert_h.v, h_fmt), "swiglu (experts)");
        const cuda::ExpertOut down_out{&down, expert_y};
        launched(cuda::launch_matvec_experts(stream, &down_out, 1, E, expert_ids, expert_groups, pairs, expert_h.v, 1), "matvec (experts' down)");
        launched(cuda::launch_moe_combine(stream, expert_y, expert_w, shexp, shexp_gate, n, k, E, x), "moe_combine");
    }

    // Dense SwiGLU FFN (spec §3.8): x += FFN(RMSNorm(x; post_attention_norm)); the MoE FFN for qwen35moe.
    void ffn(const LayerWeights& L, int n) {
        if (hp.arch == MTP_ARCH_QWEN35MOE) {
            moe_ffn(L, n);
            return;
        }
        const DevMatrix &gate = cw.mat(L[MTP_ROLE_FFN_GATE]), &up = cw.mat(L[MTP_ROLE_FFN_UP]);
        const ActFormat fmt = cuda::act_format_for(L[MTP_ROLE_FFN_DOWN].type);
        if (cuda::matvec_swiglu_supported(gate, up, n)) {
            // Decode: SwiGLU in the gate/up launch, then the down matrix's quantization alone.
            const int E = static_cast<int>(hp.n_embd);
            norm(x, E, L[MTP_ROLE_POST_ATTENTION_NORM], a, n, gate.type);
            launched(cuda::launch_matvec_swiglu(stream, gate, up, ffn_h.v.f, a.v, n), "matvec (gate, up, SwiGLU)");
            ffn_h.ready = ActFormat::F32;
            ready_for(ffn_h, L[MTP_ROLE_FFN_DOWN].type, n);
        } else {
            normed_matvecs(L[MTP_ROLE_POST_ATTENTION_NORM], {out(L[MTP_ROLE_FFN_GATE], ffn_g), out(L[MTP_ROLE_FFN_UP], ffn_u)}, n);
            launched(cuda::launch_swiglu(stream, ffn_g, ffn_u, static_cast<int>(hp.n_ff), n, ffn_h.v, fmt), "swiglu");
            ffn_h.ready = fmt;
        }
        matvecs({out(L[MTP_ROLE_FFN_DOWN], x, true)}, ffn_h, n);
    }

    // Snapshot planes a batch of n tokens writes: the states after its tokens 0 … n − 2, those that
    // keep(n_keep < n) starts the next batch from (after keep(n) the states themselves are live, so
    // the last token's state is not written twice); none for a single token or a batch too wide to
    // roll back.
    int snapshot_planes(int n) const { return n > 1 && static_cast<uint32_t>(n) <= n_snap ? n - 1 : 0; }

    // One chunk of the trunk: rows [row0, row0 + n) of the batch; h_final into hf; the snapshot
    // planes of the batch's first `planes` tokens (snapshot_planes).
    void trunk_chunk(int row0, int n, int planes) {
        const int E = static_cast<int>(hp.n_embd);
        launched(cuda::launch_embed(stream, cw.mat(w.token_embd), d_ints + 2 + row0, n, x, E), "embed");
        for (uint32_t il = 0; il < hp.n_layer; il++) {
            const LayerWeights& L = w.layers[il];
            const bool attn = w.layer_kinds[il] == MTP_LAYER_KIND_ATTENTION;
            if (attn) {
                attention(L, n, d_ints, row0, k_cache[slot[il]], v_cache[slot[il]]);
            } else {
                gated_delta_net(L, slot[il], n, row0, planes);
            }
            ffn(L, n);
        }
        norm(x, E, w.output_norm, hf, n, w.lm_head().type);
    }

    // The trunk over n tokens (already in the step inputs): h_final rows to h_hidden when `hidden`, logits of
    // the batch rows `rows` (ascending) to h_logits, in their order (computed only, unless `copy`);
    // with top_k > 0 those rows' sampling candidates (top-logits.cuh) to h_top instead.
    void record_trunk(int n, const std::vector<uint32_t>& rows, bool hidden, bool copy, int top_k) {
        const int E = static_cast<int>(hp.n_embd), V = static_cast<int>(hp.n_vocab);
        check(cudaMemcpyAsync(d_live, h_step.p, (3 + n) * sizeof(int), cudaMemcpyHostToDevice, stream), "copy of the step inputs");
        size_t next = 0;  // index into rows
        for (int r0 = 0; r0 < n; r0 += kChunkRows) {
            const int nc = std::min(kChunkRows, n - r0);
            trunk_chunk(r0, nc, snapshot_planes(n));
            if (hidden) {
                check(cudaMemcpyAsync(h_hidden.f() + static_cast<size_t>(r0) * E, hf.v.f, static_cast<size_t>(nc) * E * sizeof(float),
                                      cudaMemcpyDeviceToHost, stream),
                      "copy of the hidden rows");
            }
            // The LM head on 8-row pieces of the chunk (the logits scratch): from the first requested
            // row of the chunk left on, to the last.
            for (;;) {
                const size_t first = next;
                while (next < rows.size() && rows[next] < static_cast<uint32_t>(r0 + nc) && rows[next] < rows[first] + kMaxRows) next++;
                if (next == first) break;
                const int lo = static_cast<int>(rows[first]) - r0, hi = static_cast<int>(rows[next - 1]) - r0 + 1;
                matvecs({out(w.lm_head(), logits)}, hf, hi - lo, lo);
                if (top_k > 0) launched(cuda::launch_top_logits(stream, logits, V, hi - lo, top_k, top_scratch, d_top), "top_logits");
                // Consecutive requested rows leave in one copy.
                for (size_t i = first; copy && i < next;) {
                    size_t j = i + 1;
                    while (j < next && rows[j] == rows[j - 1] + 1) j++;
                    const size_t at = rows[i] - r0 - lo;
                    if (top_k > 0) {
                        const size_t tk = static_cast<size_t>(top_k);
                        check(cudaMemcpyAsync(static_cast<TokenLogit*>(h_top.p) + i * tk, d_top + at * tk, (j - i) * tk * sizeof(TokenLogit),
                                              cudaMemcpyDeviceToHost, stream),
                              "copy of the sampling candidates");
                    } else {
                        check(cudaMemcpyAsync(h_logits.f() + i * V, logits + at * V, (j - i) * V * sizeof(float), cudaMemcpyDeviceToHost, stream),
                              "copy of the logits");
                    }
                    i = j;
                }
            }
        }
    }

    // The MTP head (spec §4.2) over n rows: token ids `tok` and hidden rows `hid` (n, E) on the
    // device, at MTP positions mtp n_past + pos_offset + i. h' into mh and logits into `logits`: of
    // the last row, or of every row (all_rows; n <= kMaxRows), from mh row 0.
    void mtp_rows(const int* tok, const float* hid, int n, int pos_offset, bool all_rows) {
        const int E = static_cast<int>(hp.n_embd);
        const LayerWeights& L = w.layers[hp.n_layer];
        const Tensor& emb = L[MTP_ROLE_NEXTN_EMBED_TOKENS].present ? L[MTP_ROLE_NEXTN_EMBED_TOKENS] : w.token_embd;
        const Tensor& out_norm = L[MTP_ROLE_NEXTN_SHARED_HEAD_NORM].present ? L[MTP_ROLE_NEXTN_SHARED_HEAD_NORM] : w.output_norm;
        const Tensor& head = L[MTP_ROLE_NEXTN_SHARED_HEAD_HEAD].present ? L[MTP_ROLE_NEXTN_SHARED_HEAD_HEAD] : w.lm_head();
        if (all_rows && n > kMaxRows) fail(MTP_STATUS_INTERNAL, "mtp_rows: %d rows with every row's output", n);
        for (int r0 = 0; r0 < n; r0 += kChunkRows) {
            const int nc = std::min(kChunkRows, n - r0);
            // c = [enorm(embedding) | hnorm(hidden)] (nc, 2E), quantized for eh_proj: one launch,
            // or (Q8_K activations, whose blocks may straddle the halves) embed + two norms.
            const ActFormat fmt = cuda::act_format_for(L[MTP_ROLE_NEXTN_EH_PROJ].type);
            if (fmt != ActFormat::Q8_K) {
                launched(cuda::launch_mtp_input(stream, cw.mat(emb), tok + r0, hid + static_cast<size_t>(r0) * E,
                                                cw.vec(L[MTP_ROLE_NEXTN_ENORM]), cw.vec(L[MTP_ROLE_NEXTN_HNORM]), nc, eps(),
                                                c.v, fmt),
                         "mtp_input");
                c.ready = fmt;
            } else {
                launched(cuda::launch_embed(stream, cw.mat(emb), tok + r0, nc, x, E), "embed (MTP)");
                launched(cuda::launch_rms_norm(stream, x, E, cw.vec(L[MTP_ROLE_NEXTN_ENORM]), c.v.f, 2 * E, E, nc, eps(), c.v,
                                               ActFormat::F32),
                         "rms_norm (MTP enorm)");
                launched(cuda::launch_rms_norm(stream, hid + static_cast<size_t>(r0) * E, E, cw.vec(L[MTP_ROLE_NEXTN_HNORM]),
                                               c.v.f + E, 2 * E, E, nc, eps(), c.v, ActFormat::F32),
                         "rms_norm (MTP hnorm)");
                c.ready = ActFormat::F32;
            }
            matvecs({out(L[MTP_ROLE_NEXTN_EH_PROJ], x)}, c, nc);
            attention(L, nc, d_ints + 1, pos_offset + r0, mtp_k, mtp_v);
            ffn(L, nc);
            if (r0 + nc == n) {
                const int first = all_rows ? 0 : nc - 1;
                norm(x + static_cast<size_t>(first) * E, E, out_norm, mh, nc - first, head.type);
                matvecs({out(head, logits)}, mh, nc - first);
            }
        }
    }

    // mtp_eval's work: n rows (tokens in the step inputs, hidden rows in h_hidden_in); logits (with top_k > 0:
    // the sampling candidates, to h_top) and h' of the last row to h_logits / h_hidden.
    void record_mtp(int n, int top_k) {
        const int E = static_cast<int>(hp.n_embd), V = static_cast<int>(hp.n_vocab);
        check(cudaMemcpyAsync(d_live, h_step.p, (3 + n) * sizeof(int), cudaMemcpyHostToDevice, stream), "copy of the step inputs");
        check(cudaMemcpyAsync(d_hidden_in, h_hidden_in.p, static_cast<size_t>(n) * E * sizeof(float), cudaMemcpyHostToDevice, stream),
              "copy of the MTP hidden rows");
        mtp_rows(d_ints + 2, d_hidden_in, n, 0, false);
        if (top_k > 0) {
            launched(cuda::launch_top_logits(stream, logits, V, 1, top_k, top_scratch, d_top), "top_logits (MTP)");
            check(cudaMemcpyAsync(h_top.p, d_top, static_cast<size_t>(top_k) * sizeof(TokenLogit), cudaMemcpyDeviceToHost, stream),
                  "copy of the MTP sampling candidates");
        } else {
            check(cudaMemcpyAsync(h_logits.p, logits, static_cast<size_t>(V) * sizeof(float), cudaMemcpyDeviceToHost, stream),
                  "copy of the MTP logits");
        }
        check(cudaMemcpyAsync(h_hidden.p, mh.v.f, static_cast<size_t>(E) * sizeof(float), cudaMemcpyDeviceToHost, stream),
              "copy of the MTP hidden row");
    }

    // greedy_step's work (speculative.h), k drafts: the step inputs hold [n_past, mtp n_past, id_last, d_1];
    // the chain's argmaxes go to the token slots after d_1, so the verify batch reads them in place.
    void record_greedy(int k, bool with_mtp) {
        const int V = static_cast<int>(hp.n_vocab);
        check(cudaMemcpyAsync(d_live, h_step.p, 5 * sizeof(int), cudaMemcpyHostToDevice, stream), "copy of the step inputs");
        for (int j = 1; j < k; j++) {  // 1. d_{j+1} from (d_j, h'_j) at position P + j
            mtp_rows(d_ints + 2 + j, j == 1 ? chain_h : mh.v.f, 1, j - 1, false);
            launched(cuda::launch_argmax(stream, logits, V, 1, argmax_scratch, d_ints + 3 + j), "argmax (draft chain)");
        }
        const int rows = k + 1;  // 2. verify [id_last, d_1 … d_k]
        trunk_chunk(0, rows, snapshot_planes(rows));
        matvecs({out(w.lm_head(), logits)}, hf, rows);
        launched(cuda::launch_argmax(stream, logits, V, rows, argmax_scratch, d_argmax), "argmax (verify)");
        if (with_mtp) {  // 3. the next step's MTP rows (argmax_i, h_final_i) at P + 1 + i
            mtp_rows(d_argmax, hf.v.f, rows, 0, true);
            launched(cuda::launch_argmax(stream, logits, V, rows, argmax_scratch, d_argmax + kMaxRows), "argmax (MTP rows)");
        }
        int* out = static_cast<int*>(h_greedy.p);
        // d_1 came from the host; d_2 … d_k were drafted here.
        if (k > 1) check(cudaMemcpyAsync(out + 1, d_ints + 4, (k - 1) * sizeof(int), cudaMemcpyDeviceToHost, stream), "copy of the drafts");
        check(cudaMemcpyAsync(out + kMaxRows, d_argmax, 2 * kMaxRows * sizeof(int), cudaMemcpyDeviceToHost, stream),
              "copy of the argmaxes");
    }

    void greedy(GreedyStep& g) {
        const int k = g.k;
        if (k < 0 || k > max_greedy_draft()) fail(MTP_STATUS_INVALID_ARGUMENT, "greedy_step: k = %d, expected 0..%d", k, max_greedy_draft());
        if (n_past + k + 1 > n_ctx) fail(MTP_STATUS_CONTEXT_FULL, "greedy_step: %d rows at position %u overflow the context of %u", k + 1, n_past, n_ctx);
        if (g.mtp && (hp.n_mtp == 0 || mtp_n_past != n_past + 1)) {
            fail(MTP_STATUS_INTERNAL, "greedy_step: the MTP cache holds %u positions, expected %u", mtp_n_past, n_past + 1);
        }
        const int V = static_cast<int>(hp.n_vocab);
        for (const int t : {g.id_last, k > 0 ? g.draft1 : 0}) {
            if (t < 0 || t >= V) fail(MTP_STATUS_INVALID_ARGUMENT, "greedy_step: token %d outside [0, %d)", t, V);
        }
        if (k > 1 && (g.h_row < 0 || g.h_row >= kMaxRows)) fail(MTP_STATUS_INVALID_ARGUMENT, "greedy_step: h_row %d", g.h_row);
        int* ints = step_inputs();
        ints[2] = g.id_last;
        ints[3] = k > 0 ? g.draft1 : 0;
        if (k > 1) {
            const size_t E = hp.n_embd;
            check(cudaMemcpyAsync(chain_h, mh.v.f + static_cast<size_t>(g.h_row) * E, E * sizeof(float), cudaMemcpyDeviceToDevice, stream),
                  "copy of the draft chain's input");
        }
        run(true, {2, k, g.mtp ? 1 : 0, false, 0}, [&] { record_greedy(k, g.mtp); });
        batch_start = n_past;
        batch_n = static_cast<uint32_t>(k + 1);
        n_past += static_cast<uint32_t>(k + 1);
        if (g.mtp) mtp_n_past += static_cast<uint32_t>(k + 1);
        sync("greedy step");
        live = 0;  // the batch ended in the states themselves
        const int* out = static_cast<const int*>(h_greedy.p);
        if (k > 0) g.drafts[0] = g.draft1;
        for (int i = 1; i < k; i++) g.drafts[static_cast<size_t>(i)] = out[i];
        for (int i = 0; i <= k; i++) {
            g.target[static_cast<size_t>(i)] = out[kMaxRows + i];
            if (g.mtp) g.mtp_next[static_cast<size_t>(i)] = out[2 * kMaxRows + i];
        }
    }

    // sampled_step's work (speculative.h), k drafts from n_catch MTP rows: the step inputs hold [n_past,
    // mtp n_past, id_last, d_1 … d_k (drawn here), …, at 2 + kMaxRows the MTP rows' tokens]; each
    // chain row's candidates → the chain and the draw on the device → the next row's token, in the
    // verify batch's slot.
    void record_sampled(int k, int n_catch, bool hidden, int top_k) {
        const int E = static_cast<int>(hp.n_embd), V = static_cast<int>(hp.n_vocab), rows = k + 1;
        const size_t tk = static_cast<size_t>(top_k);
        check(cudaMemcpyAsync(d_live, h_step.p, (3 + kMaxRows + n_catch) * sizeof(int), cudaMemcpyHostToDevice, stream),
              "copy of the step inputs");
        check(cudaMemcpyAsync(d_sample, h_sample.p, sizeof(cuda::SampleArgs), cudaMemcpyHostToDevice, stream), "copy of the sampling arguments");
        SampledOut* so = static_cast<SampledOut*>(h_sampled.p);
        if (k > 0) {
            check(cudaMemcpyAsync(d_hidden_in, h_hidden_in.p, static_cast<size_t>(n_catch) * E * sizeof(float), cudaMemcpyHostToDevice, stream),
                  "copy of the MTP hidden rows");
            for (int j = 0; j < k; j++) {  // d_{j+1}: row j of the chain at position P + j (the catch-up rows for j = 0)
                if (j == 0) mtp_rows(d_ints + 2 + kMaxRows, d_hidden_in, n_catch, 0, false);
                else mtp_rows(d_ints + 2 + j, mh.v.f, 1, n_catch - 1 + j, false);
                launched(cuda::launch_top_logits(stream, logits, V, 1, top_k, top_scratch, d_mtp_top), "top_logits (draft chain)");
                launched(cuda::launch_sample_row(stream, d_mtp_top, top_k, d_sample, d_ints + 3 + j, d_dist + j * tk, d_dist_n + j),
                         "sample (draft chain)");
            }
            check(cudaMemcpyAsync(so->drafts, d_ints + 3, k * sizeof(int), cudaMemcpyDeviceToHost, stream), "copy of the drafts");
            check(cudaMemcpyAsync(so->dist_n, d_dist_n, k * sizeof(int), cudaMemcpyDeviceToHost, stream), "copy of the drafts' distributions");
            check(cudaMemcpyAsync(&so->used, &d_sample->used, sizeof(int), cudaMemcpyDeviceToHost, stream), "copy of the uniforms used");
            check(cudaMemcpy2DAsync(so->dist, sizeof(so->dist[0]), d_dist, tk * sizeof(TokenProb), tk * sizeof(TokenProb), k,
                                    cudaMemcpyDeviceToHost, stream),
                  "copy of the drafts' distributions");
        }
        trunk_chunk(0, rows, snapshot_planes(rows));  // verify [id_last, d_1 … d_k]
        if (hidden) {
            check(cudaMemcpyAsync(h_hidden.p, hf.v.f, static_cast<size_t>(rows) * E * sizeof(float), cudaMemcpyDeviceToHost, stream),
                  "copy of the hidden rows");
        }
        matvecs({out(w.lm_head(), logits)}, hf, rows);
        launched(cuda::launch_top_logits(stream, logits, V, rows, top_k, top_scratch, d_top), "top_logits (verify)");
        check(cudaMemcpyAsync(h_top.p, d_top, rows * tk * sizeof(TokenLogit), cudaMemcpyDeviceToHost, stream),
              "copy of the sampling candidates");
    }

    void sampled(SampledStep& s, const SamplerChain& chain) {
        const int k = s.k, n_catch = k > 0 ? static_cast<int>(s.mtp_tokens.size()) : 0, top_k = chain.top_k();
        const size_t E = hp.n_embd, tk = static_cast<size_t>(top_k);
        if (n_past + k + 1 > n_ctx) fail(MTP_STATUS_CONTEXT_FULL, "sampled_step: %d rows at position %u overflow the context of %u", k + 1, n_past, n_ctx);
        if (k > 0 && (n_catch < 1 || n_catch > kMaxRows || mtp_n_past + static_cast<uint32_t>(n_catch) - 1 != n_past ||
                      s.mtp_hidden.size() != static_cast<size_t>(n_catch) * E)) {
            fail(MTP_STATUS_INTERNAL, "sampled_step: %d MTP rows from position %u, expected up to %d ending at %u", n_catch, mtp_n_past,
                 kMaxRows, n_past);
        }
        if (s.uniforms.size() < static_cast<size_t>(k)) fail(MTP_STATUS_INTERNAL, "sampled_step: %zu uniforms for %d drafts", s.uniforms.size(), k);
        const int V = static_cast<int>(hp.n_vocab);
        int* ints = step_inputs();
        ints[2] = s.id_last;
        for (int i = 0; i < n_catch; i++) ints[2 + kMaxRows + i] = s.mtp_tokens[static_cast<size_t>(i)];
        for (int i = -1; i < n_catch; i++) {
            const int t = i < 0 ? s.id_last : ints[2 + kMaxRows + i];
            if (t < 0 || t >= V) fail(MTP_STATUS_INVALID_ARGUMENT, "sampled_step: token %d outside [0, %d)", t, V);
        }
        stage(static_cast<size_t>(k + 1), s.hidden ? static_cast<size_t>(k + 1) : 0, static_cast<size_t>(n_catch), top_k);
        if (k > 0) std::memcpy(h_hidden_in.p, s.mtp_hidden.data(), n_catch * E * sizeof(float));
        cuda::SampleArgs* args = static_cast<cuda::SampleArgs*>(h_sample.p);
        const SamplerParams& sp = chain.params();
        args->temperature = sp.temperature;
        args->top_p = sp.top_p;
        args->min_p = sp.min_p;
        args->used = 0;
        for (int i = 0; i < k; i++) args->uniforms[i] = s.uniforms[static_cast<size_t>(i)];
        run(true, {5, k, n_catch, s.hidden, top_k}, [&] { record_sampled(k, n_catch, s.hidden, top_k); });
        batch_start = n_past;
        batch_n = static_cast<uint32_t>(k + 1);
        n_past += static_cast<uint32_t>(k + 1);
        mtp_n_past += static_cast<uint32_t>(n_catch);  // the chain's entries past P are dropped
        sync("sampled step");
        live = 0;  // the batch ended in the states themselves
        const SampledOut* out = static_cast<const SampledOut*>(h_sampled.p);
        s.drafts.assign(out->drafts, out->drafts + k);
        s.q.clear();
        for (int j = 0; j < k; j++) s.q.push_back(Distribution::of(std::vector<TokenProb>(out->dist[j], out->dist[j] + out->dist_n[j])));
        s.uniforms_used = k > 0 ? out->used : 0;
        const TokenLogit* top = static_cast<const TokenLogit*>(h_top.p);
        s.target.assign(top, top + static_cast<size_t>(k + 1) * tk);
        if (s.hidden) s.verify_hidden.assign(h_hidden.f(), h_hidden.f() + static_cast<size_t>(k + 1) * E);
        else s.verify_hidden.clear();
    }

    // Drafts a sampled step serves: as a greedy step's, and the candidates fit the device's buffers.
    int max_sampled_draft() const {
        return sampled_steps && d_sample && 2 + kMaxRows + kMaxRows <= 2 + n_ctx ? static_cast<int>(std::min<uint32_t>(kMaxRows, n_snap)) - 1 : -1;
    }

    // Drafts a greedy step serves: its rows are one matvec chunk, and each needs a snapshot plane.
    int max_greedy_draft() const { return greedy_steps ? static_cast<int>(std::min<uint32_t>(kMaxRows, n_snap)) - 1 : -1; }

    // Runs `record` directly, or through the graph captured for `key` (capturing it on first use).
    template <typename Record>
    void run(bool graph_ok, const std::tuple<int, int, int, bool, int>& key, Record&& record) {
        if (!use_graphs || !graph_ok) {
            record();
            return;
        }
        auto it = graphs.find(key);
        if (it == graphs.end()) {
            cudaGraph_t g = nullptr;
            check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
            capturing = true;
            try {
                record();
            } catch (...) {
                capturing = false;
                cudaStreamEndCapture(stream, &g);
                if (g) cudaGraphDestroy(g);
                throw;
            }
            capturing = false;
            check(cudaStreamEndCapture(stream, &g), "cudaStreamEndCapture");
            cudaGraphExec_t exec = nullptr;
            const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
            cudaGraphDestroy(g);
            check(e, "cudaGraphInstantiate");
            it = graphs.emplace(key, exec).first;
        }
        check(cudaGraphLaunch(it->second, stream), "cudaGraphLaunch");
    }

    void sync(const char* what) {
        const cudaError_t e = cudaStreamSynchronize(stream);
        if (e != cudaSuccess) {
            fail(e == cudaErrorMemoryAllocation ? MTP_STATUS_OUT_OF_MEMORY : MTP_STATUS_INTERNAL,
                 "CUDA %s: a kernel failed: %s (%s); run with MTP_CUDA_SYNC=1 to name it", what, cudaGetErrorString(e),
                 cudaGetErrorName(e));
        }
    }

    // Host staging sized for this step; growing a buffer drops the graphs that hold its address.
    // top_k > 0: the logits rows leave as sampling candidates.
    void stage(size_t logit_rows, size_t hidden_rows, size_t hidden_in_rows_needed, int top_k = 0) {
        const size_t E = hp.n_embd, V = hp.n_vocab;
        bool grown = top_k > 0 ? h_top.grow(std::max<size_t>(1, logit_rows) * static_cast<size_t>(top_k) * sizeof(TokenLogit),
                                            "cudaMallocHost of the sampling candidates")
                               : h_logits.grow(std::max<size_t>(1, logit_rows) * V * sizeof(float), "cudaMallocHost of the logits");
        grown |= h_hidden.grow(std::max<size_t>(1, hidden_rows) * E * sizeof(float), "cudaMallocHost of the hidden rows");
        grown |= h_hidden_in.grow(std::max<size_t>(1, hidden_in_rows_needed) * E * sizeof(float), "cudaMallocHost of the MTP input");
        if (hidden_in_rows_needed > hidden_in_rows) {
            d_hidden_in = arena.alloc<float>(hidden_in_rows_needed * E, "cudaMalloc of the MTP input");
            hidden_in_rows = hidden_in_rows_needed;
            grown = true;
        }
        if (grown) drop_graphs();
    }

    // The rows' logits to logits_out, or with top_k > 0 their sampling candidates to top_out.
    void trunk(const int32_t* tokens, uint32_t n, const std::vector<uint32_t>& rows, float* logits_out, float* hidden_out, int top_k = 0,
               TokenLogit* top_out = nullptr) {
        stage(rows.size(), hidden_out ? n : 0, 0, top_k);
        int* ints = step_inputs();
        std::memcpy(ints + 2, tokens, n * sizeof(int32_t));
        // Graphs serve the decode loop's shapes: widths up to n_snap with a tail of logits rows.
        bool tail = !rows.empty();
        for (size_t i = 0; i < rows.size(); i++) tail = tail && rows[i] == n - rows.size() + i;
        const int from = rows.empty() ? static_cast<int>(n) : static_cast<int>(rows[0]);
        const bool copy = logits_out != nullptr || top_out != nullptr;
        run(tail && n <= n_snap, {copy ? 0 : 4, static_cast<int>(n), from, hidden_out != nullptr, top_k},
            [&] { record_trunk(static_cast<int>(n), rows, hidden_out != nullptr, copy, top_k); });
        batch_start = n_past;
        batch_n = n;
        n_past += n;
        sync("trunk eval");
        live = 0;  // the batch ended in the states themselves
        const size_t E = hp.n_embd, V = hp.n_vocab;
        if (!rows.empty() && top_out) std::memcpy(top_out, h_top.p, rows.size() * static_cast<size_t>(top_k) * sizeof(TokenLogit));
        if (!rows.empty() && logits_out) std::memcpy(logits_out, h_logits.p, rows.size() * V * sizeof(float));
        if (hidden_out) std::memcpy(hidden_out, h_hidden.p, static_cast<size_t>(n) * E * sizeof(float));
    }
};

CudaSession::CudaSession(const ModelWeights& w, CudaWeights& cw, uint32_t n_ctx, uint32_t n_draft_max)
    : impl_(std::make_unique<Impl>(w, cw.impl(), n_ctx, n_draft_max)) {}

CudaSession::~CudaSession() = default;

uint32_t CudaSession::n_past() const { return impl_->n_past; }
uint32_t CudaSession::n_draft_max() const { return impl_->n_snap - 1; }
int32_t CudaSession::n_vocab() const { return static_cast<int32_t>(impl_->hp.n_vocab); }
int32_t CudaSession::n_embd() const { return static_cast<int32_t>(impl_->hp.n_embd); }
int32_t CudaSession::n_ctx() const { return static_cast<int32_t>(impl_->n_ctx); }
bool CudaSession::has_mtp() const { return impl_->hp.n_mtp > 0; }
int32_t CudaSession::mtp_n_past() const { return static_cast<int32_t>(impl_->mtp_n_past); }

void CudaSession::reset() {
    Impl& s = *impl_;
    s.guarded([&] {
        s.n_past = s.mtp_n_past = s.batch_start = s.batch_n = 0;  // KV entries past n_past are never read
        s.zero_states();
    });
}

void CudaSession::eval(const int32_t* tokens, uint32_t n, const uint32_t* logit_rows, uint32_t n_logit_rows, float* logits,
                       float* hidden) {
    Impl& s = *impl_;
    s.guarded([&] {
        // Rows in ascending order for the chunked LM head; the caller's order is restored below.
        std::vector<uint32_t> order(n_logit_rows);
        for (uint32_t i = 0; i < n_logit_rows; i++) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return logit_rows[x] < logit_rows[y]; });
        std::vector<uint32_t> rows(n_logit_rows);
        for (uint32_t i = 0; i < n_logit_rows; i++) rows[i] = logit_rows[order[i]];
        const bool sorted = !logits || std::is_sorted(logit_rows, logit_rows + n_logit_rows);
        std::vector<float> staged(sorted ? 0 : static_cast<size_t>(n_logit_rows) * s.hp.n_vocab);
        s.trunk(tokens, n, rows, sorted ? logits : staged.data(), hidden);
        if (!sorted) {
            const size_t V = s.hp.n_vocab;
            for (uint32_t i = 0; i < n_logit_rows; i++) std::memcpy(logits + order[i] * V, staged.data() + i * V, V * sizeof(float));
        }
    });
}

void CudaSession::trunk_eval(const int32_t* tokens, int32_t n, int32_t logits_from, float* logits, float* hidden) {
    Impl& s = *impl_;
    s.guarded([&] {
        std::vector<uint32_t> rows;
        for (int32_t r = logits_from; r < n; r++) rows.push_back(static_cast<uint32_t>(r));
        s.trunk(tokens, static_cast<uint32_t>(n), rows, logits, hidden);
    });
}

void CudaSession::trunk_eval_top(const int32_t* tokens, int32_t n, int32_t logits_from, int32_t k, TokenLogit* top, float* hidden) {
    Impl& s = *impl_;
    if (!s.d_top || !cuda::top_logits_supported(n_vocab(), k)) {
        DecodeBackend::trunk_eval_top(tokens, n, logits_from, k, top, hidden);
        return;
    }
    s.guarded([&] {
        std::vector<uint32_t> rows;
        for (int32_t r = logits_from; r < n; r++) rows.push_back(static_cast<uint32_t>(r));
        s.trunk(tokens, static_cast<uint32_t>(n), rows, nullptr, hidden, k, top);
    });
}

void CudaSession::keep(uint32_t n_keep) {
    Impl& s = *impl_;
    if (n_keep < 1 || n_keep > s.batch_n) {
        fail(MTP_STATUS_INVALID_ARGUMENT, "keep: expected 1..%u (the last batch), got %u", s.batch_n, n_keep);
    }
    if (n_keep < s.batch_n && s.batch_n > s.n_snap) {
        fail(MTP_STATUS_INVALID_ARGUMENT, "keep: a batch of %u tokens cannot be rolled back (snapshots for %u)", s.batch_n, s.n_snap);
    }
    s.guarded([&] {
        // The states after token n_keep − 1 are in snapshot plane n_keep − 1 of every layer: the next
        // trunk batch starts from there (d_live) instead of the states being copied back.
        if (n_keep < s.batch_n && s.n_gdn > 0) s.live = static_cast<int>(n_keep);
        s.n_past = s.batch_start + n_keep;  // KV entries past n_past are never read
        s.batch_n = n_keep;
    });
}

void CudaSession::mtp_eval(const int32_t* tokens, const float* hidden_in, int32_t n_rows, float* logits_last,
                           float* hidden_last) {
    mtp_call(tokens, hidden_in, n_rows, logits_last, 0, nullptr, hidden_last);
}

void CudaSession::mtp_eval_top(const int32_t* tokens, const float* hidden_in, int32_t n_rows, int32_t k, TokenLogit* top_last,
                               float* hidden_last) {
    if (!impl_->d_top || !cuda::top_logits_supported(n_vocab(), k)) {
        DecodeBackend::mtp_eval_top(tokens, hidden_in, n_rows, k, top_last, hidden_last);
        return;
    }
    mtp_call(tokens, hidden_in, n_rows, nullptr, k, top_last, hidden_last);
}

void CudaSession::mtp_call(const int32_t* tokens, const float* hidden_in, int32_t n_rows, float* logits_last, int32_t top_k,
                           TokenLogit* top_last, float* hidden_last) {
    Impl& s = *impl_;
    if (s.hp.n_mtp == 0) fail(MTP_STATUS_UNSUPPORTED, "mtp_eval: the model has no MTP head");
    const uint32_t n = static_cast<uint32_t>(n_rows);
    if (n_rows <= 0 || s.mtp_n_past + n > s.n_ctx) {
        fail(MTP_STATUS_CONTEXT_FULL, "mtp_eval: %d rows at position %u overflow the context of %u", n_rows, s.mtp_n_past, s.n_ctx);
    }
    for (uint32_t t = 0; t < n; t++) {
        if (tokens[t] < 0 || static_cast<uint32_t>(tokens[t]) >= s.hp.n_vocab) {
            fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_eval: tokens[%u]: expected a token id in [0, %u), got %d", t, s.hp.n_vocab, tokens[t]);
        }
    }
    s.guarded([&] {
        const size_t E = s.hp.n_embd, V = s.hp.n_vocab;
        s.stage(1, 1, n, top_k);
        int* ints = s.step_inputs();
        std::memcpy(ints + 2, tokens, n * sizeof(int32_t));
        std::memcpy(s.h_hidden_in.p, hidden_in, n * E * sizeof(float));
        s.run(n <= s.n_snap + 1, {1, static_cast<int>(n), 0, true, top_k}, [&] { s.record_mtp(static_cast<int>(n), top_k); });
        s.mtp_n_past += n;
        s.sync("MTP eval");
        if (top_last) std::memcpy(top_last, s.h_top.p, static_cast<size_t>(top_k) * sizeof(TokenLogit));
        if (logits_last) std::memcpy(logits_last, s.h_logits.p, V * sizeof(float));
        std::memcpy(hidden_last, s.h_hidden.p, E * sizeof(float));
    });
}

int32_t CudaSession::greedy_step_max_draft() const { return impl_->max_greedy_draft(); }

int32_t CudaSession::sampled_step_max_draft() const { return impl_->max_sampled_draft(); }

void CudaSession::sampled_step(SampledStep& s, const SamplerChain& chain) {
    Impl& st = *impl_;
    const int k = s.k;
    if (k > st.max_sampled_draft() || !cuda::top_logits_supported(n_vocab(), chain.top_k()) || chain.greedy() ||
        (k > 0 && (s.mtp_tokens.empty() || s.mtp_tokens.size() > static_cast<size_t>(kMaxRows)))) {
        DecodeBackend::sampled_step(s, chain);
        return;
    }
    st.guarded([&] { st.sampled(s, chain); });
}

void CudaSession::greedy_step(GreedyStep& g) {
    Impl& s = *impl_;
    s.guarded([&] { s.greedy(g); });
}

void CudaSession::mtp_truncate(int32_t n_pos) {
    if (n_pos < 0) fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_truncate: expected >= 0, got %d", n_pos);
    impl_->mtp_n_past = std::min(impl_->mtp_n_past, static_cast<uint32_t>(n_pos));  // entries past it are never read
}

}  // namespace mtp

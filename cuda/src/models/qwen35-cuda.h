// The CUDA backend's model and session: the qwen35 trunk and its MTP head (spec §3, §4) on one GPU,
// with the CPU backend's semantics (cuda/cpu/qwen35-cpu.h): eval over a batch of consecutive
// tokens, rollback into the last batch through per-token snapshot planes of the Gated DeltaNet
// state (keep), F16 KV caches for the trunk and the MTP head. It is a DecodeBackend, so the shared
// decode loop (runtime/speculative.h) drives it unchanged.
//
// This header has no CUDA types (it is included by the C++ API): the device state lives in the
// .cu file. Every CUDA error becomes an mtp::Failure naming the launcher or call that failed, and
// leaves the session unusable (a sticky fault poisons the CUDA context anyway).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "../runtime/speculative.h"
#include "../runtime/weights.h"

namespace mtp {

// Whether a CUDA device can be used; otherwise *why says why not (no driver, no device).
bool cuda_device_available(std::string* why);
// Whether the CUDA kernels execute weights of this ggml type (F32, F16, BF16, Q8_0, Q4_K, Q5_K, Q6_K).
bool cuda_supports_type(uint32_t type);
// The current device's free and total memory (cudaMemGetInfo).
void cuda_device_memory(uint64_t* free_bytes, uint64_t* total_bytes);

// Bytes the CUDA models and sessions of this process hold (every DeviceArena's allocations).
uint64_t cuda_allocated_bytes();

// A model's weights on the device, uploaded once (Q8_0 repacked, see kernels/matvec.cuh) and
// shared by every CUDA session of the model. Must outlive them.
class CudaWeights {
public:
    explicit CudaWeights(const ModelWeights& w);
    ~CudaWeights();
    CudaWeights(const CudaWeights&) = delete;
    CudaWeights& operator=(const CudaWeights&) = delete;
    struct Impl;
    Impl& impl() { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

class CudaSession : public DecodeBackend {
public:
    // Graph replay for decode / verify / draft steps unless MTP_CUDA_GRAPHS=0 is set when the
    // session is created; MTP_CUDA_SYNC=1 runs eagerly and synchronizes after every launch, so an
    // asynchronous fault is reported with the kernel that caused it; MTP_CUDA_GREEDY_STEP=0 leaves
    // greedy steps to the decode loop's composed calls (for comparison).
    CudaSession(const ModelWeights& w, CudaWeights& cw, uint32_t n_ctx, uint32_t n_draft_max);
    ~CudaSession() override;

    uint32_t n_past() const;
    uint32_t n_draft_max() const;
    void reset();
    // As CpuSession::eval / keep.
    void eval(const int32_t* tokens, uint32_t n, const uint32_t* logit_rows, uint32_t n_logit_rows, float* logits,
              float* hidden);
    void keep(uint32_t n_keep);

    // DecodeBackend
    int32_t n_vocab() const override;
    int32_t n_embd() const override;
    int32_t n_ctx() const override;
    bool has_mtp() const override;
    int32_t trunk_n_past() const override { return static_cast<int32_t>(n_past()); }
    void trunk_eval(const int32_t* tokens, int32_t n, int32_t logits_from, float* logits, float* hidden) override;
    void trunk_keep(int32_t n_keep) override { keep(static_cast<uint32_t>(n_keep)); }
    int32_t mtp_n_past() const override;
    void mtp_eval(const int32_t* tokens, const float* hidden_in, int32_t n, float* logits_last, float* hidden_last) override;
    void mtp_truncate(int32_t n_pos) override;
    // Sampling candidates found on the device (kernels/top-logits.cuh) for k <= 64; else the host's.
    void trunk_eval_top(const int32_t* tokens, int32_t n, int32_t logits_from, int32_t k, TokenLogit* top, float* hidden) override;
    void mtp_eval_top(const int32_t* tokens, const float* hidden_in, int32_t n, int32_t k, TokenLogit* top_last,
                      float* hidden_last) override;
    // One graph per k: draft chain, verify, argmaxes and the next step's MTP rows on the device.
    int32_t greedy_step_max_draft() const override;
    void greedy_step(GreedyStep& s) override;
    // One graph per (k, MTP rows): the MTP rows, the draft chain sampled on the device
    // (kernels/sample.cuh), verify and its candidates; one host round trip.
    int32_t sampled_step_max_draft() const override;
    void sampled_step(SampledStep& s, const SamplerChain& chain) override;

private:
    // mtp_eval's work: the last row's logits, or with top_k > 0 its sampling candidates.
    void mtp_call(const int32_t* tokens, const float* hidden_in, int32_t n, float* logits_last, int32_t top_k, TokenLogit* top_last,
                  float* hidden_last);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mtp

// The model as the backends see it: validated hyper-parameters, the layer schedule, and every
// tensor of the manifest resolved to a pointer into the mapped file (matrices) or to an F32 copy
// (vectors: norms, conv kernel, GDN dt bias / A). Built only from the manifest TS passes in; the
// checks here are the native side's own (ranges against the file size, byte counts against type ×
// dims, shapes against the hyper-parameters), so a hostile or stale caller gets a status, never an
// out-of-bounds read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mapped-file.h"
#include "mtp.h"

namespace mtp {

struct Tensor {
    bool present = false;
    uint32_t type = 0;
    int64_t ne[4] = {1, 1, 1, 1};  // ggml order
    const uint8_t* data = nullptr; // in the mapping
    size_t row_bytes = 0;          // bytes of one ne[0] row
    const float* f32 = nullptr;    // vectors only: the values as F32 (owned by ModelWeights)
    std::string name;

    const uint8_t* row(int64_t i) const { return data + static_cast<size_t>(i) * row_bytes; }
};

struct LayerWeights {
    Tensor by_role[MTP_ROLE_COUNT];
    const Tensor& operator[](mtp_tensor_role role) const { return by_role[role]; }
};

struct ModelWeights {
    mtp_hparams hp{};
    std::vector<uint8_t> layer_kinds;  // (n_layer) mtp_layer_kind
    std::unique_ptr<MappedFile> file;
    Tensor token_embd, output_norm, output;
    std::vector<LayerWeights> layers;  // (n_layer + n_mtp)
    std::vector<std::vector<float>> vector_storage;

    // The trunk LM head: output.weight, else the tied token_embd.weight.
    const Tensor& lm_head() const { return output.present ? output : token_embd; }
};

// Throws Failure with MTP_STATUS_BAD_MODEL / UNSUPPORTED / IO / INVALID_ARGUMENT.
std::unique_ptr<ModelWeights> load_weights(const char* path, const mtp_hparams* hp, const uint8_t* layer_kinds,
                                           const mtp_tensor_info* tensors, uint32_t n_tensors);

}  // namespace mtp

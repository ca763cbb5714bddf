// A read-only memory mapping of a whole model file (POSIX mmap). Weights are used in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mtp {

class MappedFile {
public:
    explicit MappedFile(const std::string& path);  // throws Failure(MTP_STATUS_IO)
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }

private:
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace mtp

// The one exception type the library throws internally. Every C entry point (src/api/mtp-api.cpp)
// catches it (and anything else) and turns it into an mtp_status + message: nothing crosses the ABI.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "mtp.h"

namespace mtp {

class Failure : public std::runtime_error {
public:
    Failure(mtp_status status, const std::string& message) : std::runtime_error(message), status(status) {}
    mtp_status status;
};

[[noreturn]] __attribute__((format(printf, 2, 3))) inline void fail(mtp_status status, const char* fmt, ...) {
    char buf[MTP_ERROR_MESSAGE_BYTES];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    throw Failure(status, buf);
}

}  // namespace mtp

// Cryptographically strong random strings (OpenSSL RAND_bytes). Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace georep {

// `bytes` random bytes as lower-case hex (2 * bytes characters).
std::string RandomHex(size_t bytes);

}  // namespace georep

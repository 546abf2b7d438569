// Streaming SHA-256 (OpenSSL EVP; SHA-NI where the CPU has it). The digest
// algorithm is fetched once per process; each Sha256 owns its context.
// Not thread-safe; one per stream.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct evp_md_ctx_st;

namespace georep {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // Lower-case hex; the object is reset for another stream.
  std::string HexDigest();

 private:
  evp_md_ctx_st* ctx_;
};

std::string Sha256Hex(absl::string_view data);
// Reads the file in 1 MiB blocks.
absl::StatusOr<std::string> Sha256File(const std::string& path, int64_t* size = nullptr);

}  // namespace georep

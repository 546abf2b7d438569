// A batch response as the secondary receives it ("id code size\n" then the
// bytes of each part), fed in pieces of a size the input chooses. Whatever
// arrives: a part marked received with code 200 was given exactly its size
// in bytes, whose SHA-256 it reports; any other part was given nothing
// beyond what a cut-short part had (the caller discards those).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "transport/blob_download.h"
#include "util/sha256.h"

namespace {

class Collected : public georep::transport::BodySink {
 public:
  absl::Status Write(absl::string_view piece) override {
    bytes.append(piece.data(), piece.size());
    return absl::OkStatus();
  }
  std::string bytes;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using georep::transport::BatchPart;
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 64;
  const char* body = reinterpret_cast<const char*>(data) + 1;
  size_t len = size - 1;
  Collected sinks[3];
  std::vector<BatchPart> parts;
  for (int64_t id : {1, 2, 3}) {
    BatchPart p;
    p.id = id;
    p.sink = &sinks[id - 1];
    parts.push_back(p);
  }
  {
    georep::transport::BatchReceiver receiver(&parts);
    for (size_t off = 0; off < len; off += piece) {
      if (!receiver.Feed(body + off, std::min(piece, len - off))) break;
    }
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const BatchPart& p = parts[i];
    const std::string& got = sinks[i].bytes;
    if (p.received && p.code == 200 &&
        (static_cast<int64_t>(got.size()) != p.size || georep::Sha256Hex(got) != p.sha256))
      abort();
    if (p.received && p.code != 200 && !got.empty()) abort();
  }
  return 0;
}

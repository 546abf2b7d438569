// A batch response as the secondary receives it ("id code size\n" then the
// bytes of each part), fed in pieces of a size the input chooses. Whatever
// arrives: a part marked received with code 200 is a file of exactly its
// size, and a part not received leaves no file behind.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "transport/blob_download.h"

namespace {
std::string Dir() {
  static std::string dir = [] {
    char tmpl[] = "/dev/shm/georep-fuzz-batch-XXXXXX";
    char* made = mkdtemp(tmpl);
    if (made == nullptr) abort();
    return std::string(made);
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using georep::transport::BatchPart;
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 64;
  const char* body = reinterpret_cast<const char*>(data) + 1;
  size_t len = size - 1;
  std::vector<BatchPart> parts;
  for (int64_t id : {1, 2, 3}) {
    BatchPart p;
    p.id = id;
    p.dest = Dir() + "/part-" + std::to_string(id);
    parts.push_back(p);
  }
  {
    georep::transport::BatchReceiver receiver(&parts);
    for (size_t off = 0; off < len; off += piece) {
      if (!receiver.Feed(body + off, std::min(piece, len - off))) break;
    }
  }
  for (const BatchPart& p : parts) {
    struct stat st;
    bool exists = stat(p.dest.c_str(), &st) == 0;
    if (p.received && p.code == 200 && (!exists || st.st_size != p.size)) abort();
    if (!p.received && exists) abort();
    unlink(p.dest.c_str());
  }
  return 0;
}

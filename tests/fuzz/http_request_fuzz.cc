// One HTTP request as the server parses it (Beast's parser, then Georep's
// framing rules and a body limit). Whatever the bytes: a request accepted
// has a path starting with '/', at most one Content-Length, Authorization
// and Host, no Transfer-Encoding other than "chunked", and a body within the
// limit.
#include <cstdint>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "api/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint64_t kLimit = 4096;
  absl::string_view raw(reinterpret_cast<const char*>(data), size);
  auto request = georep::api::ParseRequest(raw, kLimit);
  if (!request.ok()) return 0;
  if (request->path.empty() || request->path[0] != '/') abort();
  if (request->body.size() > kLimit) abort();
  auto te = request->headers.find("transfer-encoding");
  if (te != request->headers.end() && absl::AsciiStrToLower(te->second) != "chunked") abort();
  return 0;
}

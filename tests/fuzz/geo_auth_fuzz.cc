// The Authorization header of a Geo request: "GL-Geo key:JWT". No input the
// fuzzer makes can carry a token signed with the secret, so any token
// accepted, or refused for its data rather than as unauthenticated, is a
// forgery: the target aborts.
#include <cstdint>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "transport/geo_auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace georep::transport;
  absl::string_view header(reinterpret_cast<const char*>(data), size);
  auto creds = ParseGeoAuthorization(header);
  if (!creds.ok()) {
    if (!absl::IsUnauthenticated(creds.status())) abort();
    return 0;
  }
  // The seeds were signed with this secret at 1,000,000,000 (2001): expired
  // now, at 2,000,000,000.
  absl::Status verdict =
      VerifyGeoToken(creds->token, "fuzz-secret", R"({"scope":"group/project"})", 2000000000);
  if (!absl::IsUnauthenticated(verdict)) abort();
  return 0;
}

// Small network helpers.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep {

// A TCP port on 127.0.0.1 that was free when asked (bound to port 0 and released).
absl::StatusOr<int> FreeTcpPort();

struct HostPort {
  std::string host;
  int port = 0;
};
// Parses "host:port" (IPv4 or name) or "[v6]:port"; port 0..65535.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

}  // namespace georep

// Small network helpers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep {

// `url` without its trailing slashes ("http://h:1/" → "http://h:1"), so a
// path can be appended.
std::string TrimTrailingSlashes(std::string url);

// A TCP port on 127.0.0.1 that was free when asked (bound to port 0 and released).
absl::StatusOr<int> FreeTcpPort();

struct HostPort {
  std::string host;
  int port = 0;
};
// Parses "host:port" (IPv4 or name) or "[v6]:port"; port 0..65535.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

// One entry of an address list: an IPv4 or IPv6 address with a prefix
// length ("10.0.0.0/8", "2001:db8::/32"; a bare address is the whole
// length). IPv4 is kept as IPv4-mapped IPv6, so "::ffff:10.1.2.3" from a
// dual-stack socket matches 10.0.0.0/8.
struct AddressRange {
  std::array<uint8_t, 16> address{};
  int prefix = 128;
};
// Parses a list separated by commas or spaces; InvalidArgument naming the
// entry that is not an address or a range. An empty text is an empty list.
absl::StatusOr<std::vector<AddressRange>> ParseAddressList(absl::string_view text);
// Whether `address` (text, as a peer's address is reported) is in one of
// the ranges; false for text that is not an address.
bool AddressInList(const std::vector<AddressRange>& list, absl::string_view address);

}  // namespace georep

#include "util/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace georep {

std::string TrimTrailingSlashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

absl::StatusOr<int> FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("bind 127.0.0.1:0: ", strerror(e)));
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  HostPort hp;
  absl::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not [host]:port"));
    }
    hp.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not host:port"));
    }
    hp.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (!absl::SimpleAtoi(port_text, &hp.port) || hp.port < 0 || hp.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" has no valid port (0 to 65535)"));
  }
  return hp;
}

namespace {

// An address as IPv6 (IPv4 mapped); false if `text` is neither.
bool ToV6(absl::string_view text, std::array<uint8_t, 16>* out, bool* v4) {
  std::string s(text);
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    *out = {};
    (*out)[10] = (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, &a4, 4);
    *v4 = true;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::memcpy(out->data(), &a6, 16);
    *v4 = false;
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<AddressRange>> ParseAddressList(absl::string_view text) {
  std::vector<AddressRange> out;
  for (absl::string_view entry : absl::StrSplit(text, absl::ByAnyChar(", \t"), absl::SkipEmpty())) {
    absl::string_view address = entry;
    int prefix = -1;
    if (size_t slash = entry.find('/'); slash != absl::string_view::npos) {
      address = entry.substr(0, slash);
      if (!absl::SimpleAtoi(entry.substr(slash + 1), &prefix) || prefix < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", entry, "\" has no valid prefix length after the /"));
      }
    }
    AddressRange range;
    bool v4 = false;
    if (!ToV6(address, &range.address, &v4)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", entry, "\" is not an IPv4 or IPv6 address or range"));
    }
    int bits = v4 ? 32 : 128;
    if (prefix > bits) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", entry, "\": a prefix length is at most ", bits));
    }
    range.prefix = (prefix < 0 ? bits : prefix) + (v4 ? 96 : 0);
    out.push_back(range);
  }
  return out;
}

bool AddressInList(const std::vector<AddressRange>& list, absl::string_view address) {
  std::array<uint8_t, 16> a{};
  bool v4 = false;
  if (!ToV6(address, &a, &v4)) return false;
  for (const AddressRange& r : list) {
    int full = r.prefix / 8, rest = r.prefix % 8;
    if (std::memcmp(a.data(), r.address.data(), static_cast<size_t>(full)) != 0) continue;
    if (rest != 0) {
      uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
      if ((a[static_cast<size_t>(full)] & mask) != (r.address[static_cast<size_t>(full)] & mask))
        continue;
    }
    return true;
  }
  return false;
}

}  // namespace georep

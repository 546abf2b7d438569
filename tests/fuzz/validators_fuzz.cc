// Every validator of text a client sends (project paths, site URLs and
// names, selective-sync namespaces and shards) over any input: no crash, no
// stack overflow whatever the length (a `repeat` mutation grows an input
// to many kilobytes), and what is accepted keeps the promised shape.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "sample/sample.h"
#include "site/sites.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  if (georep::sample::CheckProjectPath(s).ok()) {
    if (s.find('/') == std::string::npos || s.size() > 21 * 256) abort();
    if (absl::StrContains(s, "..") || absl::StrContains(s, "//")) abort();
  }
  if (georep::site::ValidateUrl("url", s).ok()) {
    if (!absl::StartsWith(s, "http://") && !absl::StartsWith(s, "https://")) abort();
    if (s.find_first_of(" \t\r\n") != std::string::npos || s.size() > 2048) abort();
  }
  georep::SelectiveSync ns{.kind = georep::SelectiveSync::Kind::kNamespaces, .namespaces = {s}};
  if (georep::site::ValidateSelectiveSync(ns).ok() && (s.empty() || s.size() > 20 * 101)) abort();
  georep::SelectiveSync shards{.kind = georep::SelectiveSync::Kind::kShards, .shards = {s}};
  if (georep::site::ValidateSelectiveSync(shards).ok() && s.size() > 63) abort();
  return 0;
}

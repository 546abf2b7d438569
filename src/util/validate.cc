#include "util/validate.h"

#include "absl/strings/str_cat.h"

namespace georep {

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsName(absl::string_view s, size_t max_len, absl::string_view more) {
  if (s.empty() || s.size() > max_len || !IsAsciiAlnum(s[0])) return false;
  for (char c : s.substr(1)) {
    if (!IsAsciiAlnum(c) && more.find(c) == absl::string_view::npos) return false;
  }
  return true;
}

bool IsLowerIdentifier(absl::string_view s, size_t max_len, bool leading_underscore) {
  if (s.empty() || s.size() > max_len) return false;
  auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  if (!lower(s[0]) && !(leading_underscore && s[0] == '_')) return false;
  for (char c : s.substr(1)) {
    if (!lower(c) && !(c >= '0' && c <= '9') && c != '_') return false;
  }
  return true;
}

bool IsSlashPath(absl::string_view s, size_t max_segments, size_t max_segment_len,
                 absl::string_view more) {
  if (s.size() > max_segments * (max_segment_len + 1)) return false;
  size_t segments = 0;
  while (true) {
    size_t slash = s.find('/');
    if (++segments > max_segments) return false;
    if (!IsName(s.substr(0, slash), max_segment_len, more)) return false;
    if (slash == absl::string_view::npos) return true;
    s.remove_prefix(slash + 1);
  }
}

std::string Excerpt(absl::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  // Not inside a UTF-8 character: back off over continuation bytes.
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(s.substr(0, cut), "…");
}

}  // namespace georep

// Validators for text a client or a file sends: hand-written, linear in
// the length, no recursion, every length bounded first. (std::regex
// recurses once per character matched and overflows the stack on a long
// input: one request could kill the daemon.) Functions, no state.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace georep {

bool IsAsciiAlnum(char c);

// 1 to `max_len` characters: an ASCII letter or digit first, then letters,
// digits or characters of `more` ("_-" or "._-").
bool IsName(absl::string_view s, size_t max_len, absl::string_view more = "._-");

// A lower-case identifier: [a-z_] (or [a-z] without `leading_underscore`)
// then [a-z0-9_], 1 to `max_len` characters.
bool IsLowerIdentifier(absl::string_view s, size_t max_len, bool leading_underscore = true);

// 1 to `max_segments` segments joined by '/', each an IsName of at most
// `max_segment_len` characters with `more`.
bool IsSlashPath(absl::string_view s, size_t max_segments, size_t max_segment_len,
                 absl::string_view more = "._-");

// `s` for an error message: at most `max` bytes, "…" after a cut.
std::string Excerpt(absl::string_view s, size_t max = 80);

}  // namespace georep

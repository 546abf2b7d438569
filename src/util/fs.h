// File-system helpers: whole-file reads, atomic writes, owned directories.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes to a temp file beside `path`, fsyncs it and renames it over `path`,
// so a reader sees the old content or the new, never a part.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view content, int mode = 0644);

// mkdir -p, then chmod `mode`; if `owner` is not empty and we are root, chown
// the leaf to that user (and its group).
absl::Status MakeDirs(const std::string& path, int mode = 0755, const std::string& owner = "");

// Absolute, lexically normalised form of `path` (relative to the cwd).
std::string AbsolutePath(const std::string& path);

}  // namespace georep

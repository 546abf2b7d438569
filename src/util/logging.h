// Structured logging: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-22T03:14:15.123456Z","level":"info","msg":"listening","port":8080}
//
// Thread-safe. Secrets must never be passed as fields.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep::log {

enum class Level { kDebug, kInfo, kWarn, kError };

struct Field {
  absl::string_view key;
  std::variant<std::string, int64_t, double, bool> value;
  Field(absl::string_view k, std::string v) : key(k), value(std::move(v)) {}
  Field(absl::string_view k, absl::string_view v) : key(k), value(std::string(v)) {}
  Field(absl::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(absl::string_view k, int v) : key(k), value(int64_t{v}) {}
  Field(absl::string_view k, int64_t v) : key(k), value(v) {}
  Field(absl::string_view k, uint64_t v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(absl::string_view k, double v) : key(k), value(v) {}
  Field(absl::string_view k, bool v) : key(k), value(v) {}
};
using Fields = std::initializer_list<Field>;

absl::StatusOr<Level> ParseLevel(absl::string_view name);
void SetLevel(Level level);

void Write(Level level, absl::string_view msg, Fields fields = {});
inline void Debug(absl::string_view msg, Fields f = {}) { Write(Level::kDebug, msg, f); }
inline void Info(absl::string_view msg, Fields f = {}) { Write(Level::kInfo, msg, f); }
inline void Warn(absl::string_view msg, Fields f = {}) { Write(Level::kWarn, msg, f); }
inline void Error(absl::string_view msg, Fields f = {}) { Write(Level::kError, msg, f); }

}  // namespace georep::log

// Early returns on error, so a function reads as its happy path:
//
//   GEOREP_RETURN_IF_ERROR(Heartbeat(conn, id));          // an absl::Status
//   GEOREP_ASSIGN_OR_RETURN(auto rows, ClaimBatch(...));  // an absl::StatusOr<T>
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace georep {

// `s` with "context: " before its message, keeping its code and payloads.
inline absl::Status Annotated(const absl::Status& s, absl::string_view context) {
  absl::Status out(s.code(), absl::StrCat(context, ": ", s.message()));
  s.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace georep

#define GEOREP_RETURN_IF_ERROR(expr)                                                         \
  do {                                                                                       \
    if (::absl::Status georep_status_ = (expr); !georep_status_.ok()) return georep_status_; \
  } while (0)

#define GEOREP_STATUS_CONCAT_INNER(a, b) a##b
#define GEOREP_STATUS_CONCAT(a, b) GEOREP_STATUS_CONCAT_INNER(a, b)
#define GEOREP_ASSIGN_OR_RETURN(lhs, expr) \
  GEOREP_ASSIGN_OR_RETURN_IMPL(GEOREP_STATUS_CONCAT(georep_statusor_, __LINE__), lhs, expr)
#define GEOREP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(*tmp)

#include "framework/spec/states.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace georep::framework {

const char* SyncStateName(int state) {
  switch (static_cast<SyncState>(state)) {
    case SyncState::kPending:
      return "pending";
    case SyncState::kStarted:
      return "started";
    case SyncState::kSynced:
      return "synced";
    case SyncState::kFailed:
      return "failed";
    case SyncState::kLost:
      return "lost";
  }
  return "unknown";
}

const char* VerificationStateName(int state) {
  switch (state) {
    case kVerificationPending:
      return "verification_pending";
    case kVerificationStarted:
      return "verification_started";
    case kVerificationSucceeded:
      return "verified";
    case kVerificationFailed:
      return "verification_failed";
    case kVerificationDisabled:
      return "verification_disabled";
  }
  return "unknown";
}

std::optional<int> ParseSyncState(absl::string_view name) {
  for (int state = 0; state <= static_cast<int>(SyncState::kLost); ++state) {
    if (name == SyncStateName(state)) return state;
  }
  return std::nullopt;
}

const char* VerificationShortName(int state) {
  switch (state) {
    case kVerificationPending:
      return "pending";
    case kVerificationStarted:
      return "started";
    case kVerificationSucceeded:
      return "succeeded";
    case kVerificationFailed:
      return "failed";
    case kVerificationDisabled:
      return "disabled";
  }
  return "unknown";
}

std::optional<int> ParseVerificationState(absl::string_view name) {
  for (int state = kVerificationPending; state <= kVerificationDisabled; ++state) {
    if (name == VerificationShortName(state) || name == VerificationStateName(state)) return state;
  }
  return std::nullopt;
}

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kCreated:
      return "created";
    case EventKind::kUpdated:
      return "updated";
    case EventKind::kDeleted:
      return "deleted";
  }
  return "unknown";
}

std::optional<EventKind> ParseEventKind(absl::string_view name) {
  for (EventKind kind : {EventKind::kCreated, EventKind::kUpdated, EventKind::kDeleted}) {
    if (name == EventKindName(kind)) return kind;
  }
  return std::nullopt;
}

std::string StateSql(absl::string_view text) {
  auto n = [](auto state) { return absl::StrCat(static_cast<int>(state)); };
  auto e = [](EventKind kind) { return absl::StrCat("'", EventKindName(kind), "'"); };
  return absl::StrReplaceAll(text, {{"$S_PENDING", n(SyncState::kPending)},
                                    {"$S_STARTED", n(SyncState::kStarted)},
                                    {"$S_SYNCED", n(SyncState::kSynced)},
                                    {"$S_FAILED", n(SyncState::kFailed)},
                                    {"$S_LOST", n(SyncState::kLost)},
                                    {"$V_PENDING", n(kVerificationPending)},
                                    {"$V_STARTED", n(kVerificationStarted)},
                                    {"$V_SUCCEEDED", n(kVerificationSucceeded)},
                                    {"$V_FAILED", n(kVerificationFailed)},
                                    {"$V_DISABLED", n(kVerificationDisabled)},
                                    {"$E_CREATED", e(EventKind::kCreated)},
                                    {"$E_UPDATED", e(EventKind::kUpdated)},
                                    {"$E_DELETED", e(EventKind::kDeleted)}});
}

std::string SelectionSql(const Selection& sel, absl::string_view failed_clause) {
  if (sel.id > 0) return absl::StrCat("model_id = ", sel.id);
  if (sel.failed_only) return std::string(failed_clause);
  return "true";
}

}  // namespace georep::framework

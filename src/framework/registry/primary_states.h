// The primary's checksum states: georep.<name>_states in the main database,
// one row per model row, written on the primary and read on every standby.
// Every statement on these tables lives here (the publish triggers take
// their fragments from here too).
//
// Invariants:
//   - A row is pending (checksum NULL) from a change of its model row until
//     the checksummer records it; only a succeeded row's checksum is ever
//     given to a secondary.
//   - A claim is `worker_id`; a result is recorded only under its claim, so
//     a reset by a new change (worker_id NULL) makes a late result a no-op.
//   - A row under re-verification stays succeeded (it is counted as
//     checksummed while it is re-read).
//
// Stateless; every call takes the connection to use.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/spec/states.h"
#include "georep/replicable.h"

namespace georep::framework {

// Creates the states table with its indexes and count triggers (idempotent).
absl::Status EnsureStateTable(db::Connection& main, const ReplicableSpec& spec);

// SQL fragments for the publish triggers (`id` is an SQL expression):
// the row becomes pending (a new or changed model row), or is forgotten.
std::string ResetStateSql(const ReplicableSpec& spec, absl::string_view id);
std::string ForgetStateSql(const ReplicableSpec& spec, absl::string_view id);
// ResetStateSql as a statement, in the caller's transaction.
absl::Status ResetState(db::Connection& main, const ReplicableSpec& spec, int64_t model_id);

// An SQL expression for the succeeded checksum of model row `id` (NULL when
// it has none), for a lookup that reads the model row at the same time.
std::string SucceededChecksumSql(const ReplicableSpec& spec, absl::string_view id);

// The primary's verdicts for a batch of ids, read on a standby: id →
// checksum for rows whose checksum state is succeeded; ids absent have none
// (yet).
absl::StatusOr<std::map<int64_t, std::string>> PrimaryChecksums(db::Connection& standby,
                                                                const ReplicableSpec& spec,
                                                                const std::vector<int64_t>& ids);

// Succeeded checksums with ids above `after`, in id order, at most `limit`.
struct ChecksumChunk {
  std::string ids;                 // a bigint[] literal
  std::string checksums;           // a text[] literal, in the same order
  std::optional<int64_t> last_id;  // nullopt when the chunk is empty
};
absl::StatusOr<ChecksumChunk> SucceededChecksumsAfter(db::Connection& standby,
                                                      const ReplicableSpec& spec, int64_t after,
                                                      int limit);

// ---- the checksummer (framework/verify/checksummer.h)

// One set-based statement each way: rows for model rows that have none, and
// rows whose model row is gone removed.
absl::Status BackfillStates(db::Connection& main, const ReplicableSpec& spec);
// Rows claimed by checksummers whose heartbeat stopped are released.
absl::Status ReleaseDeadChecksummers(db::Connection& main, const ReplicableSpec& spec,
                                     double dead_after_seconds);

enum class ChecksumPick {
  kPending,  // never checksummed, or changed
  kRetry,    // failed, and due for a retry
  kDue,      // succeeded longer ago than the interval
};
struct ChecksumClaim {
  int64_t model_id = 0;
  std::optional<std::string> recorded;  // the checksum recorded before
  int retry_count = 0;
  std::optional<std::string> path;  // the model row's, nullopt if gone
  // The application's own digest of the bytes (AppChecksumSql), if the spec
  // declares a checksum column and the row holds a valid one.
  std::optional<std::string> app_checksum;
};
absl::StatusOr<std::vector<ChecksumClaim>> ClaimChecksums(db::Connection& main,
                                                          const ReplicableSpec& spec,
                                                          const std::string& worker_id, int limit,
                                                          ChecksumPick pick,
                                                          double interval_seconds);
// Records checksums (succeeded) of rows still claimed by `worker_id`.
absl::Status RecordChecksums(db::Connection& main, const ReplicableSpec& spec,
                             const std::string& worker_id, const std::vector<int64_t>& ids,
                             const std::vector<std::string>& checksums);
absl::Status RecordChecksumFailure(db::Connection& main, const ReplicableSpec& spec,
                                   const std::string& worker_id, int64_t id,
                                   const std::string& failure, double retry_delay_seconds);

// An operator's reverify on the primary: checksum again, compared with the
// recorded checksum. Returns rows changed.
absl::StatusOr<int64_t> ReverifyPrimary(db::Connection& main, const ReplicableSpec& spec,
                                        const Selection& sel);

}  // namespace georep::framework

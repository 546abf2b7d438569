// The primary's checksummer: claims rows of georep.<name>_states
// (framework/registry/primary_states.h) and records the checksum of each item, so
// that every secondary can verify its copy against it.
//
// It claims pending rows, then failed rows due for a retry, then succeeded
// rows due for re-verification, and computes each item's checksum with its
// strategy's local_checksum (or, for a new row whose application keeps a
// SHA-256 of the bytes in a declared checksum column, takes that digest and
// reads the bytes at the next re-verification). A re-verification compares
// with the checksum
// recorded before: a blob changed behind the application's back becomes a
// checksum failure; an item that changes in place (a repository) is a new
// state, recorded and published as an `updated` event in one transaction.
//
// One thread runs a Checksummer; several daemons may share the work (claims
// use FOR UPDATE SKIP LOCKED).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/verify/verification_options.h"
#include "georep/replicable.h"
#include "util/stop_signal.h"

namespace georep::framework {

class Checksummer {
 public:
  Checksummer(VerificationOptions options, std::vector<ReplicableSpec> specs);
  void Run(const StopSignal& stop);
  // One round: backfill states, release dead claims, checksum one batch per
  // replicable. Returns how many items were checksummed.
  absl::StatusOr<int> Round();

 private:
  absl::Status Connect();
  // The round after a notification: one batch of pending (or failed and
  // due) rows for just the replicables whose maintained counts show any, so
  // a new item is checksummed without a query per replicable.
  absl::StatusOr<int> PendingRound();
  absl::StatusOr<int> ChecksumBatch(const ReplicableSpec& spec, bool include_due);

  VerificationOptions opt_;
  std::vector<ReplicableSpec> specs_;
  std::unique_ptr<db::Connection> main_;
  double last_backfill_ = 0;
  double last_round_ = -1e9;  // of the last full Round, on opt_.clock
};

}  // namespace georep::framework

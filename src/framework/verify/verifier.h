// A secondary's verifier: checks the copies its registries say are synced
// against the primary's checksums (framework/registry/primary_states.h, read on the
// standby), recording the outcomes in the registry rows
// (framework/registry/registry_store.h).
//
// A download whose streamed checksum equals the primary's is verified with
// no second read (the sync records it); with no primary checksum yet the row
// is `disabled` until one arrives. Each round the verifier:
//   - settles disabled rows whose primary checksum arrived;
//   - scrubs: re-reads copies asked for (reverify) or due on the interval
//     (a backlog of due copies back to back, or at scrub_rate copies/s);
//     a mismatch or a missing file fails verification and sync, so the
//     scheduler fetches the copy again (at once, then with backoff);
//   - every repository_interval_seconds, for strategies whose items change
//     in place, compares every synced copy's checksum with the primary's, a
//     chunk of ids per statement, and queues the ones that differ.
//
// One thread runs a Verifier; several daemons may share the work.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/verify/verification_options.h"
#include "georep/replicable.h"
#include "util/stop_signal.h"

namespace georep::framework {

class Verifier {
 public:
  Verifier(VerificationOptions options, std::vector<ReplicableSpec> specs);
  // Rounds until `stop`. A ring of `doorbell` (a sync that left a copy for
  // want of the primary's checksum) starts a round at once and, while such
  // copies stay unsettled, more after 5, 10, 20 … ms up to the idle wait,
  // so the copy is verified soon after that checksum reaches the standby.
  void Run(const StopSignal& stop, Doorbell* doorbell = nullptr);
  // One round over every replicable. Returns rows settled or checked.
  absl::StatusOr<int> Round();

 private:
  absl::Status Connect();
  absl::StatusOr<int> SettleDisabledRows(const ReplicableSpec& spec);
  // Claims and checks one batch: pending checks (and ones released from dead
  // daemons), else copies due on the interval; the flags skip what cannot
  // find anything.
  absl::StatusOr<int> Scrub(const ReplicableSpec& spec, bool pending, bool started, bool due);
  // Synced copies whose checksum is not the primary's now: back to pending.
  // Returns how many.
  absl::StatusOr<int> Reconcile(const ReplicableSpec& spec);

  VerificationOptions opt_;
  std::vector<ReplicableSpec> specs_;
  std::unique_ptr<db::Connection> standby_;
  std::unique_ptr<db::Connection> tracking_;
  double last_due_check_ = 0;
  // Types whose last look for due copies claimed a full batch.
  std::set<std::string> due_backlog_;
  // With scrub_rate: when the scrub may next claim due copies (monotonic).
  double scrub_next_at_ = 0;
  double last_reconcile_ = 0;
  bool unsettled_ = false;  // the last round left disabled rows unsettled
};

}  // namespace georep::framework

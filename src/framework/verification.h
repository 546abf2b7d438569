// Verification: checksums computed on both sides and compared.
//
// Primary: georep.<name>_states in the main DB, one row per model row (kept
// in step by the publish triggers and a set-based backfill). The Checksummer
// claims pending rows, computes the SHA-256 of the file while reading it,
// and records it; on re-verification it compares with the checksum it
// recorded before, so a blob changed behind the application's back becomes a
// checksum failure. A repository is mutable: a changed refs digest is a new
// state, recorded with an `updated` event in one transaction. The rows reach
// secondaries by streaming replication.
//
// Secondary: verification columns in each registry row. A download whose
// streamed SHA-256 equals the primary's is verified with no second read
// (framework/blob_sync.cc); with no primary checksum yet the row is
// `disabled` until one arrives. The Verifier turns disabled rows verified
// when the primary's checksum arrives, and scrubs synced files (re-reads
// them) on the re-verification interval or on request. A mismatch or a
// missing file marks the row verification-failed and sync-failed, so the
// scheduler re-downloads it with backoff. Every repository_interval_seconds
// it compares every synced repository's digest with the primary's, a chunk
// of ids per statement, and queues the ones that differ.
//
// Both run on one thread each; they claim with FOR UPDATE SKIP LOCKED, so
// several daemons can share the work.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/spec.h"
#include "georep/replicable.h"

namespace georep::framework {

// The checksum of a local copy: SHA-256 of a blob's bytes, the refs digest
// of a repository (git/repository.h).
absl::StatusOr<std::string> LocalChecksum(const ReplicableSpec& spec, const std::string& path);

// The primary's verdicts for a batch of ids, read on a standby: id →
// checksum for rows whose checksum state is succeeded; ids absent have none
// (yet).
absl::StatusOr<std::map<int64_t, std::string>> PrimaryChecksums(db::Connection& standby,
                                                                const ReplicableSpec& spec,
                                                                const std::vector<int64_t>& ids);

// Creates the states table with its indexes and count triggers (idempotent).
absl::Status EnsureStateTable(db::Connection& main, const ReplicableSpec& spec);

struct VerificationOptions {
  std::string main_conninfo;      // primary: its main DB; secondary: the standby
  std::string tracking_conninfo;  // secondary only
  std::string storage_root;
  std::string repository_root;
  std::string worker_id;
  // Re-read and re-check every file this often. 7 days: finds silent
  // corruption within a week while re-reading a 10 TB site costs about 3 h
  // of one core per week at SHA-NI speed (≈1 GB/s), under 2 % of its time.
  double interval_seconds = 7 * 24 * 3600;
  // Repositories change in place (a push is an update, not a new file), and
  // their refs digest costs no git process, so they are looked at far more
  // often: the primary re-reads every repository's refs this often, records
  // a changed digest and publishes an `updated` event with it (a push whose
  // event was lost, or a write behind the application's back, is replicated
  // all the same); a secondary compares every synced repository's digest
  // with the primary's this often and queues the ones that differ.
  double repository_interval_seconds = 300;
  double dead_worker_seconds = 15;
  int batch = 500;
  double idle_poll_seconds = 0.25;  // bounds how soon a new item is checksummed / verified
};

class Checksummer {
 public:
  Checksummer(VerificationOptions options, std::vector<ReplicableSpec> specs);
  void Run(const std::atomic<bool>& stop);
  // One round: backfill states, queue re-verification, checksum one batch per
  // replicable. Returns how many files were checksummed.
  absl::StatusOr<int> Round();

 private:
  absl::Status Connect();
  absl::StatusOr<int> ChecksumBatch(const ReplicableSpec& spec);
  absl::Status BackfillStates(const ReplicableSpec& spec);

  VerificationOptions opt_;
  std::vector<ReplicableSpec> specs_;
  std::unique_ptr<db::Connection> main_;
  double last_backfill_ = 0;
};

class Verifier {
 public:
  Verifier(VerificationOptions options, std::vector<ReplicableSpec> specs);
  void Run(const std::atomic<bool>& stop);
  // One round over every replicable: disabled rows whose primary checksum
  // arrived, then one batch of the scrub. Returns rows settled.
  absl::StatusOr<int> Round();

 private:
  absl::Status Connect();
  absl::StatusOr<int> SettleDisabled(const ReplicableSpec& spec);
  // Synced repositories whose digest is not the primary's now: back to
  // pending. Returns how many.
  absl::StatusOr<int> ReconcileRepositories(const ReplicableSpec& spec);
  // Claims and checks one batch: pending checks (and ones released from dead
  // daemons), else copies due on the interval; the flags skip what cannot
  // find anything.
  absl::StatusOr<int> Scrub(const ReplicableSpec& spec, bool pending, bool started, bool due);

  VerificationOptions opt_;
  std::vector<ReplicableSpec> specs_;
  std::unique_ptr<db::Connection> standby_;
  std::unique_ptr<db::Connection> tracking_;
  double last_due_check_ = 0;
  double last_reconcile_ = 0;
};

// Operator actions. `id` 0 with `failed_only` false means every row.
struct Selection {
  int64_t id = 0;
  bool failed_only = false;
  bool all = false;
};
// Secondary: sync again (registry rows back to pending). Returns rows changed.
absl::StatusOr<int64_t> Resync(db::Connection& tracking, const ReplicableSpec& spec,
                               const Selection& sel);
// Secondary: re-read and re-check synced copies.
absl::StatusOr<int64_t> ReverifySecondary(db::Connection& tracking, const ReplicableSpec& spec,
                                          const Selection& sel);
// Primary: checksum again, compared with the recorded checksum.
absl::StatusOr<int64_t> ReverifyPrimary(db::Connection& main, const ReplicableSpec& spec,
                                        const Selection& sel);

}  // namespace georep::framework

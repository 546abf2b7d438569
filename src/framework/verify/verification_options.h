// Settings shared by the primary's checksummer and a secondary's verifier
// (framework/verify/checksummer.h, framework/verify/verifier.h); every default is the
// site configuration's (config/config.h), which fills these in.
#pragma once

#include <memory>
#include <string>

#include "config/defaults.h"
#include "framework/storage/blob_store.h"
#include "util/clock.h"

namespace georep::framework {

struct VerificationOptions {
  std::string main_conninfo;               // primary: its main DB; secondary: the standby
  std::string tracking_conninfo;           // secondary only
  std::shared_ptr<const BlobStore> blobs;  // where blobs are (storage/blob_store.h)
  std::string repository_root;
  std::string worker_id;
  double interval_seconds = defaults::kVerificationIntervalSeconds;
  // Items that change in place (repositories: a push is an update, not a
  // new file), whose checksum costs no git process, are looked at far more
  // often: the primary re-reads every one this often, records a changed
  // checksum and publishes an `updated` event with it (a push whose event
  // was lost, or a write behind the application's back, is replicated all
  // the same); a secondary compares every synced copy's checksum with the
  // primary's this often and queues the ones that differ.
  double repository_interval_seconds = defaults::kRepositoryIntervalSeconds;
  double dead_worker_seconds = defaults::kDeadWorkerSeconds;
  int batch = 500;
  // Copies read at once (geo_nodes.verification_max_capacity).
  int capacity = 1;
  // Copies per second the scrub re-reads when they are due on the interval
  // (secondary; 0: as fast as it can). Operator-asked reverifications are
  // not paced.
  double scrub_rate = 0;
  double idle_poll_seconds = 0.25;     // bounds how soon a new item is checksummed / verified
  const Clock* clock = SystemClock();  // what "this often" is measured by
};

}  // namespace georep::framework

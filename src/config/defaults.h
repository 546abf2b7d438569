// The defaults of a site's engine settings, declared once: config::Config's
// members (where an operator sets them, src/config/config.h) and the engines'
// option structs start from these.
#pragma once

namespace georep::defaults {

inline constexpr double kCursorPollSeconds =
    0.02;  // how often the log cursor looks for events (an index probe when idle)
inline constexpr double kCursorLeaseSeconds = 5;        // the cursor lease's time to live
inline constexpr double kGapTimeoutSeconds = 3600;      // how long a skipped event id is awaited
inline constexpr int kBackfillBatch = 50000;            // model ids per backfill step
inline constexpr double kBackfillIntervalSeconds = 60;  // pause between full backfill passes
// How often a secondary reads the lost-in-failover records into its registry.
inline constexpr double kLostRecordsIntervalSeconds = 2;
inline constexpr double kSyncTimeoutSeconds = 3600;  // a started sync older is reclaimed
inline constexpr double kDeadWorkerSeconds = 15;     // a daemon silent this long loses its rows
// Blobs fetched in one /geo/retrieve-batch request, at most (a primary
// refuses more): per request the primary reads its main DB once and the
// secondary makes the files durable and records their rows once.
inline constexpr int kMaxBatchItems = 100;
// Re-read and re-check every copy this often. 7 days: finds silent
// corruption within a week while re-reading a 10 TB site costs about 3 h of
// one core per week at SHA-NI speed (≈1 GB/s), under 2 % of its time.
inline constexpr double kVerificationIntervalSeconds = 7 * 24 * 3600;
// Items that change in place (repositories) are re-read on the primary, and
// compared on a secondary, this often; their checksum costs no git process.
inline constexpr double kRepositoryIntervalSeconds = 300;
// The primary prunes its event log this often, below what every enabled
// secondary that reported within the hold still needs. 24 h of hold: a site
// down for a day returns to the events it missed; one down longer returns to
// a backfill and a checksum comparison instead of holding the log for ever.
inline constexpr double kPruneIntervalSeconds = 60;
inline constexpr double kPruneHoldSeconds = 24 * 3600;
inline constexpr int kPruneBatch = 10000;  // events per transaction

}  // namespace georep::defaults

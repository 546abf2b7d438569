// georep-bench-engine: the registry engine alone, at sizes no file tree
// could hold, against a running topology's databases. Prints Markdown table
// rows for bench/RESULTS.md (bench/run.sh, scenario "engine").
//
// backfill: N rows in a model table on the primary (georep_bench.items,
//   replicated to the standby like any application table), then one
//   events::Backfill pass creating their registry rows in the tracking DB,
//   beside PostgreSQL's own `INSERT … SELECT` of N rows into an identical
//   registry table (same indexes and count triggers) in the same database.
// queue: the N pending rows the backfill left, claimed and completed by
//   --workers threads the way a daemon does (ClaimBatch of the rows it keeps
//   ready, CompleteSyncBatch of up to one worker's batch), with no download in
//   between; beside the same with each row completed alone (CompleteSync), on
//   the first --single rows.
//
// prune: N events in a scratch database's event log (on the primary's
//   cluster, migrated like a main database, so no daemon's pruner touches
//   it), pruned below the newest by events::PruneBatch in the daemon's
//   batches; beside one `DELETE` of the same N events after a refill, what an
//   operator would run by hand (one transaction, holding every row lock).
//
// The replicable "bench_item" is not compiled into the daemons, so they
// never touch these rows. Everything created is dropped at the end.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "db/connection.h"
#include "db/migrations.h"
#include "events/backfill.h"
#include "events/prune.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"

namespace georep {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// 1000000 → "1,000,000"
std::string Thousands(int64_t n) {
  std::string digits = absl::StrCat(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

[[noreturn]] void Die(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "georep-bench-engine: %s: %s\n", what.c_str(),
               std::string(s.message()).c_str());
  std::exit(1);
}

std::unique_ptr<db::Connection> Open(const std::string& conninfo) {
  auto c = db::Connection::Open(conninfo);
  if (!c.ok()) Die("connect", c.status());
  return std::move(*c);
}

db::Result Must(db::Connection& c, const std::string& sql, const db::Params& params = {}) {
  auto r = c.Exec(sql, params);
  if (!r.ok()) Die(sql.substr(0, 60), r.status());
  return std::move(*r);
}

ReplicableSpec BenchSpec(const std::string& name) {
  ReplicableSpec spec;
  spec.name = name;
  spec.title = "Benchmark item";
  spec.model_table = "georep_bench.items";
  spec.path_template = "bench/{id}";
  spec.origin = "georep-bench-engine";
  return spec;
}

struct Options {
  std::string primary, standby, tracking;
  int64_t rows = 1000000;
  int workers = 2;
  // As a daemon's scheduler with capacity 10 and batch_max 16 for one
  // replicable: rows claimed ahead, and the most one worker completes at once.
  int claim = 160;
  int complete = 16;
  int64_t single = 50000;
};

void DropAll(const Options& o) {
  auto tracking = Open(o.tracking);
  for (const char* name : {"bench_item", "bench_item_baseline"}) {
    Must(*tracking, absl::StrCat("DROP TABLE IF EXISTS georep.", name, "_registry"));
    for (const char* t : {"registry_counts", "registry_count_deltas"}) {
      Must(*tracking, absl::StrCat("DELETE FROM georep.", t, " WHERE replicable IN ($1, $2)"),
           {name, absl::StrCat(name, ":verification")});
    }
    Must(*tracking, "DELETE FROM georep.backfill_state WHERE replicable = $1", {name});
  }
  auto primary = Open(o.primary);
  Must(*primary, "DROP SCHEMA IF EXISTS georep_bench CASCADE");
}

int64_t RegistryRows(db::Connection& tracking, const std::string& name, const char* where = "") {
  return Must(tracking, absl::StrCat("SELECT count(*) FROM georep.", name, "_registry", where))
      .GetInt64(0, 0);
}

void Backfill(const Options& o) {
  auto primary = Open(o.primary);
  Must(*primary, "CREATE SCHEMA georep_bench");
  Must(*primary,
       "CREATE TABLE georep_bench.items (id bigint PRIMARY KEY, file_path text NOT NULL)");
  auto t0 = Clock::now();
  Must(*primary,
       "INSERT INTO georep_bench.items SELECT g, 'bench/' || g FROM generate_series(1, $1) g",
       {absl::StrCat(o.rows)});
  double insert_s = Since(t0);
  // The backfill reads the standby: wait until it has replayed the rows.
  std::string lsn(Must(*primary, "SELECT pg_current_wal_lsn()::text").Get(0, 0));
  auto standby = Open(o.standby);
  while (!Must(*standby, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", {lsn}).GetBool(0, 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double replicated_s = Since(t0);

  auto tracking = Open(o.tracking);
  ReplicableSpec spec = BenchSpec("bench_item");
  if (auto s = framework::EnsureRegistryTable(*tracking, spec); !s.ok()) Die("registry", s);
  events::BackfillOptions bo;
  bo.standby_conninfo = o.standby;
  bo.tracking_conninfo = o.tracking;
  bo.holder = "georep-bench-engine";
  events::Backfill backfill(bo, {spec});
  t0 = Clock::now();
  auto stats = backfill.Pass(3600);
  double backfill_s = Since(t0);
  if (!stats.ok()) Die("backfill", stats.status());
  int64_t created = RegistryRows(*tracking, "bench_item", " WHERE state = 0");
  if (!stats->pass_complete || stats->created != o.rows || created != o.rows) {
    std::fprintf(stderr,
                 "georep-bench-engine: backfill created %lld rows (%lld pending), not %lld\n",
                 static_cast<long long>(stats->created), static_cast<long long>(created),
                 static_cast<long long>(o.rows));
    std::exit(1);
  }

  ReplicableSpec baseline = BenchSpec("bench_item_baseline");
  if (auto s = framework::EnsureRegistryTable(*tracking, baseline); !s.ok()) Die("registry", s);
  t0 = Clock::now();
  Must(*tracking,
       "INSERT INTO georep.bench_item_baseline_registry (model_id) "
       "SELECT g FROM generate_series(1, $1) g",
       {absl::StrCat(o.rows)});
  double baseline_s = Since(t0);
  std::printf(
      "| backfill: %s existing rows → registry rows (batches of %d) | %.1f s (%s rows/s) | "
      "INSERT … SELECT into the same registry table, same DB: %.1f s | %.2f |\n",
      Thousands(o.rows).c_str(), bo.batch, backfill_s,
      Thousands(static_cast<int64_t>(o.rows / backfill_s)).c_str(), baseline_s,
      baseline_s / backfill_s);
  std::fprintf(stderr,
               "backfill setup: %lld model rows inserted on the primary in %.1f s, on the standby "
               "after %.1f s\n",
               static_cast<long long>(o.rows), insert_s, replicated_s);
}

// Claims and completes rows of `spec` on `workers` threads until none is
// pending or `limit` rows are done; returns seconds taken.
double DrainQueue(const Options& o, const ReplicableSpec& spec, int64_t limit, bool grouped) {
  std::atomic<int64_t> done{0};
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w] {
      auto conn = Open(o.tracking);
      Must(*conn, "SET synchronous_commit = off");  // as the daemon's workers
      std::string worker = absl::StrCat("bench-", w);
      std::function<absl::Status()> install = [] { return absl::OkStatus(); };
      while (done.load() < limit) {
        auto items = framework::ClaimBatch(*conn, spec, worker, o.claim);
        if (!items.ok()) Die("claim", items.status());
        if (items->empty()) return;
        std::vector<framework::SyncResult> results(items->size());
        for (size_t i = 0; i < items->size(); ++i) {
          results[i] = {absl::StrCat("bench/", (*items)[i].model_id), 4096, std::string(64, 'a'),
                        framework::kVerificationSucceeded};
        }
        for (size_t i = 0; i < items->size();) {
          size_t n = grouped ? std::min<size_t>(o.complete, items->size() - i) : 1;
          std::vector<framework::Completion> batch;
          for (size_t k = i; k < i + n; ++k) batch.push_back({&(*items)[k], &results[k], &install});
          if (auto s = framework::CompleteSyncBatch(*conn, spec, batch); !s.ok())
            Die("complete", s);
          for (const auto& c : batch) {
            if (!c.done) Die("complete", absl::InternalError("a claimed row was not completed"));
          }
          i += n;
        }
        done += static_cast<int64_t>(items->size());
      }
    });
  }
  for (auto& t : threads) t.join();
  return Since(t0);
}

void Queue(const Options& o) {
  auto tracking = Open(o.tracking);
  ReplicableSpec spec = BenchSpec("bench_item");
  int64_t pending = RegistryRows(*tracking, "bench_item", " WHERE state = 0");
  if (pending < o.rows) {
    std::fprintf(stderr, "georep-bench-engine: %lld pending rows, run backfill first\n",
                 static_cast<long long>(pending));
    std::exit(1);
  }
  // Alone first, on the first --single rows; then the rest, grouped.
  int64_t single = std::min(o.single, o.rows / 2);
  double single_s = DrainQueue(o, spec, single, /*grouped=*/false);
  int64_t after_single = RegistryRows(*tracking, "bench_item", " WHERE state = 2");
  double grouped_s = DrainQueue(o, spec, o.rows, /*grouped=*/true);
  int64_t synced = RegistryRows(*tracking, "bench_item", " WHERE state = 2");
  if (synced != o.rows) {
    std::fprintf(stderr, "georep-bench-engine: %lld rows synced, not %lld\n",
                 static_cast<long long>(synced), static_cast<long long>(o.rows));
    std::exit(1);
  }
  int64_t grouped = synced - after_single;
  std::printf(
      "| queue: claim + complete %s pending rows, %d workers (claims of %d, completions of up to "
      "%d) | %s rows/s (%.1f s for %s) | each row completed alone: %s rows/s (%s rows) | "
      "%.2f |\n",
      Thousands(o.rows).c_str(), o.workers, o.claim, o.complete,
      Thousands(static_cast<int64_t>(grouped / grouped_s)).c_str(), grouped_s,
      Thousands(grouped).c_str(), Thousands(static_cast<int64_t>(after_single / single_s)).c_str(),
      Thousands(after_single).c_str(), (grouped / grouped_s) / (after_single / single_s));
}

constexpr char kPruneDb[] = "georep_bench_prune";

void FillEventLog(db::Connection& c, int64_t n) {
  Must(c,
       "WITH e AS (INSERT INTO georep.geo_events (replicable_name, event_name, model_id) "
       "SELECT 'bench_item', 'created', g FROM generate_series(1, $1) g RETURNING id) "
       "INSERT INTO georep.geo_event_log (geo_event_id) SELECT id FROM e ORDER BY id",
       {absl::StrCat(n)});
  Must(c, "VACUUM ANALYZE georep.geo_events");
  Must(c, "VACUUM ANALYZE georep.geo_event_log");
}

void Prune(const Options& o) {
  auto primary = Open(o.primary);
  Must(*primary, absl::StrCat("DROP DATABASE IF EXISTS ", kPruneDb));
  Must(*primary, absl::StrCat("CREATE DATABASE ", kPruneDb));
  auto scratch = Open(absl::StrCat(o.primary, " dbname=", kPruneDb));
  if (auto s = db::Migrate(*scratch, db::DatabaseKind::kMain); !s.ok()) Die("migrate", s.status());
  const int64_t n = o.rows;
  FillEventLog(*scratch, n);
  int64_t below = Must(*scratch, "SELECT max(id) + 1 FROM georep.geo_event_log").GetInt64(0, 0);
  int batches = 0;
  int64_t pruned = 0;
  auto t0 = Clock::now();
  while (true) {
    auto deleted = events::PruneBatch(*scratch, below, defaults::kPruneBatch);
    if (!deleted.ok()) Die("prune", deleted.status());
    if (*deleted == 0) break;
    pruned += *deleted;
    ++batches;
  }
  double prune_s = Since(t0);
  int64_t left = Must(*scratch, "SELECT count(*) FROM georep.geo_events").GetInt64(0, 0);
  if (pruned != n || left != 0) {
    std::fprintf(stderr, "georep-bench-engine: pruned %lld of %lld events, %lld left\n",
                 static_cast<long long>(pruned), static_cast<long long>(n),
                 static_cast<long long>(left));
    std::exit(1);
  }
  FillEventLog(*scratch, n);
  below = Must(*scratch, "SELECT max(id) + 1 FROM georep.geo_event_log").GetInt64(0, 0);
  t0 = Clock::now();
  Must(*scratch, "DELETE FROM georep.geo_events WHERE id < $1", {absl::StrCat(below)});
  double baseline_s = Since(t0);
  scratch.reset();
  Must(*primary, absl::StrCat("DROP DATABASE ", kPruneDb));
  std::printf(
      "| prune: %s events from the event log (%d transactions of %d) | %s events/s (%.1f s) | "
      "one DELETE of them, same DB: %s events/s (%.1f s) | %.2f |\n",
      Thousands(n).c_str(), batches, defaults::kPruneBatch,
      Thousands(static_cast<int64_t>(n / prune_s)).c_str(), prune_s,
      Thousands(static_cast<int64_t>(n / baseline_s)).c_str(), baseline_s, baseline_s / prune_s);
}

}  // namespace
}  // namespace georep

int main(int argc, char** argv) {
  using namespace georep;
  CLI::App app{
      "The registry engine alone at sizes no file tree could hold: backfill and queue, against a "
      "running topology's databases. Prints Markdown table rows."};
  Options o;
  app.add_option("--primary", o.primary, "conninfo of the primary's main database")->required();
  app.add_option("--standby", o.standby, "conninfo of a secondary's standby of it")->required();
  app.add_option("--tracking", o.tracking, "conninfo of that secondary's tracking database")
      ->required();
  app.add_option("--rows", o.rows, "model rows (and queue rows)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 40));
  app.add_option("--workers", o.workers, "queue worker threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--claim", o.claim, "rows per claim")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--complete", o.complete, "rows per group commit")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--single", o.single, "rows completed one by one, for comparison")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  CLI11_PARSE(app, argc, argv);
  DropAll(o);  // a previous run killed half-way
  Backfill(o);
  Queue(o);
  DropAll(o);
  Prune(o);
  return 0;
}

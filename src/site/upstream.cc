#include "site/upstream.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/clock.h"

namespace georep::site {

absl::StatusOr<uint64_t> ParseLsn(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  uint32_t hi = 0, lo = 0;
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty() || parts[0].size() > 8 ||
      parts[1].size() > 8 || !absl::SimpleHexAtoi(parts[0], &hi) ||
      !absl::SimpleHexAtoi(parts[1], &lo)) {
    return absl::InvalidArgumentError(absl::StrCat("not a WAL position: \"", text, "\""));
  }
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

std::string FormatLsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIX32 "/%" PRIX32, static_cast<uint32_t>(lsn >> 32),
                static_cast<uint32_t>(lsn));
  return buf;
}

absl::StatusOr<Upstream> ReadUpstream(db::Connection& standby) {
  auto r = standby.Exec(
      "SELECT current_setting('primary_conninfo'), current_setting('primary_slot_name')");
  if (!r.ok()) return r.status();
  return Upstream{std::string(r->Get(0, 0)), std::string(r->Get(0, 1))};
}

absl::Status SetUpstream(db::Connection& standby, const Upstream& upstream) {
  // ALTER SYSTEM takes no parameters: the server quotes the values.
  for (const auto& [name, value] :
       {std::pair<std::string, std::string>{"primary_conninfo", upstream.conninfo},
        {"primary_slot_name", upstream.slot}}) {
    auto sql = standby.Exec("SELECT format('ALTER SYSTEM SET %I = %L', $1::text, $2::text)",
                            {name, value});
    if (!sql.ok()) return sql.status();
    if (auto s = standby.Exec(sql->Get(0, 0)); !s.ok()) {
      return absl::Status(
          s.status().code(),
          absl::StrCat("cannot change ", name, " of the standby (", s.status().message(),
                       "): its role needs ALTER SYSTEM (a superuser, or GRANT "
                       "ALTER SYSTEM ON PARAMETER ",
                       name, ")"));
    }
  }
  return standby.Exec("SELECT pg_reload_conf()").status();
}

absl::StatusOr<std::optional<Detached>> ReadDetached(db::Connection& tracking) {
  auto r = tracking.Exec(
      "SELECT previous_conninfo, previous_slot, new_primary, since::text FROM "
      "georep.detached_upstream");
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::optional<Detached>();
  return std::optional<Detached>(Detached{{std::string(r->Get(0, 0)), std::string(r->Get(0, 1))},
                                          std::string(r->Get(0, 2)),
                                          std::string(r->Get(0, 3))});
}

absl::StatusOr<uint64_t> DetachUpstream(db::Connection& standby, db::Connection& tracking,
                                        const std::string& new_primary, double wait_seconds) {
  auto recovery = standby.InRecovery();
  if (!recovery.ok()) return recovery.status();
  if (!*recovery) {
    return absl::FailedPreconditionError(
        absl::StrCat("main database (", standby.display_name(), ") is not a standby"));
  }
  auto current = ReadUpstream(standby);
  if (!current.ok()) return current.status();
  // Saved once: a repeated detach must not save the emptied setting.
  if (!current->conninfo.empty()) {
    auto saved = tracking.Exec(
        "INSERT INTO georep.detached_upstream (previous_conninfo, previous_slot, new_primary) "
        "VALUES ($1, $2, $3) ON CONFLICT (only_row) DO UPDATE SET new_primary = $3",
        {current->conninfo, current->slot, new_primary});
    if (!saved.ok()) return saved.status();
  }
  if (auto s = SetUpstream(standby, {"", current->slot}); !s.ok()) return s;
  double deadline = MonotonicSeconds() + wait_seconds;
  while (true) {
    auto r = standby.Exec("SELECT count(*) FROM pg_stat_wal_receiver");
    if (!r.ok()) return r.status();
    if (r->GetInt64(0, 0) == 0) break;
    if (MonotonicSeconds() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the standby's WAL receiver did not stop within ", wait_seconds, " s of its reload"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto pos = ReadLocalPosition(standby);
  if (!pos.ok()) return pos.status();
  return std::max(pos->received, pos->replayed);
}

absl::Status ReattachUpstream(db::Connection& standby, db::Connection& tracking) {
  auto detached = ReadDetached(tracking);
  if (!detached.ok()) return detached.status();
  if (!detached->has_value()) return absl::OkStatus();
  if (auto s = SetUpstream(standby, (*detached)->previous); !s.ok()) return s;
  return ForgetDetached(tracking);
}

absl::Status ForgetDetached(db::Connection& tracking) {
  return tracking.Exec("DELETE FROM georep.detached_upstream").status();
}

absl::StatusOr<LocalPosition> ReadLocalPosition(db::Connection& standby) {
  auto r = standby.Exec(
      "SELECT (SELECT system_identifier::text FROM pg_control_system()), "
      "(SELECT timeline_id FROM pg_control_checkpoint()), "
      "coalesce(pg_last_wal_receive_lsn(), '0/0')::text, "
      "coalesce(pg_last_wal_replay_lsn(), '0/0')::text, "
      "(SELECT status = 'streaming' FROM pg_stat_wal_receiver), "
      "coalesce((SELECT received_tli FROM pg_stat_wal_receiver), 0), "
      "coalesce((SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver), '')");
  if (!r.ok()) return r.status();
  LocalPosition p;
  p.system_id = std::string(r->Get(0, 0));
  p.timeline = static_cast<int>(std::max(r->GetInt64(0, 1), r->GetInt64(0, 5)));
  auto received = ParseLsn(std::string(r->Get(0, 2)));
  auto replayed = ParseLsn(std::string(r->Get(0, 3)));
  if (!received.ok()) return received.status();
  if (!replayed.ok()) return replayed.status();
  p.received = *received;
  p.replayed = *replayed;
  p.streaming = r->GetBool(0, 4);
  p.streaming_from = std::string(r->Get(0, 6));
  return p;
}

absl::StatusOr<std::vector<TimelineSwitch>> ParseTimelineHistory(const std::string& text) {
  std::vector<TimelineSwitch> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(line, "#")) continue;
    std::vector<std::string> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    TimelineSwitch s;
    if (f.size() < 2 || !absl::SimpleAtoi(f[0], &s.timeline)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad line in a timeline history: \"", line, "\""));
    }
    auto lsn = ParseLsn(f[1]);
    if (!lsn.ok()) return lsn.status();
    s.switchpoint = *lsn;
    out.push_back(s);
  }
  return out;
}

absl::StatusOr<SourceSystem> IdentifySource(db::Connection& replication) {
  auto id = replication.Query("IDENTIFY_SYSTEM");
  if (!id.ok()) return id.status();
  if (id->rows() != 1 || id->columns() < 3) {
    return absl::InternalError("IDENTIFY_SYSTEM answered no row");
  }
  SourceSystem s;
  s.system_id = std::string(id->Get(0, 0));
  s.timeline = static_cast<int>(id->GetInt64(0, 1));
  auto pos = ParseLsn(std::string(id->Get(0, 2)));
  if (!pos.ok()) return pos.status();
  s.position = *pos;
  if (s.timeline > 1) {
    auto h = replication.Query(absl::StrCat("TIMELINE_HISTORY ", s.timeline));
    if (!h.ok()) return h.status();
    if (h->rows() != 1 || h->columns() < 2) {
      return absl::InternalError("TIMELINE_HISTORY answered no file");
    }
    auto history = ParseTimelineHistory(std::string(h->Get(0, 1)));
    if (!history.ok()) return history.status();
    s.history = *history;
  }
  return s;
}

absl::Status CreatePhysicalSlot(db::Connection& replication, const std::string& slot) {
  auto r = replication.Query(
      absl::StrCat("CREATE_REPLICATION_SLOT ", db::QuoteIdent(slot), " PHYSICAL RESERVE_WAL"));
  if (r.ok() || absl::IsAlreadyExists(r.status())) return absl::OkStatus();
  return r.status();
}

ForkVerdict CheckFork(const LocalPosition& local, const SourceSystem& source) {
  ForkVerdict v;
  uint64_t reached = std::max(local.received, local.replayed);
  if (local.system_id != source.system_id) {
    v.reason = absl::StrCat("it is a copy of another database cluster (system identifier ",
                            local.system_id, "; the new primary's is ", source.system_id, ")");
    return v;
  }
  if (local.timeline == source.timeline) {
    v.can_stream = reached <= source.position;
    if (!v.can_stream) {
      v.reason =
          absl::StrCat("it has WAL up to ", FormatLsn(reached), ", beyond the new primary's ",
                       FormatLsn(source.position), " on the same timeline ", source.timeline);
    }
    return v;
  }
  if (local.timeline > source.timeline) {
    v.reason = absl::StrCat("it is on timeline ", local.timeline, ", later than the new primary's ",
                            source.timeline);
    return v;
  }
  auto it = std::find_if(source.history.begin(), source.history.end(),
                         [&](const TimelineSwitch& s) { return s.timeline == local.timeline; });
  if (it == source.history.end()) {
    v.reason =
        absl::StrCat("its timeline ", local.timeline, " is not in the new primary's history");
    return v;
  }
  v.fork_point = it->switchpoint;
  v.can_stream = reached <= v.fork_point;
  if (!v.can_stream) {
    v.reason = absl::StrCat("it has WAL of the old primary up to ", FormatLsn(reached),
                            ", past the promotion point ", FormatLsn(v.fork_point), " (timeline ",
                            local.timeline, " ended there)");
  }
  return v;
}

}  // namespace georep::site

#include "site/role.h"

#include "absl/strings/str_cat.h"

namespace georep::site {

absl::StatusOr<RoleState> ReadRole(db::Connection& main, const std::string& site_name) {
  RoleState role;
  auto sites = ListSites(main);
  if (!sites.ok()) return sites.status();
  bool found = false;
  for (const auto& s : *sites) {
    if (s.name == site_name) {
      role.self = s;
      found = true;
    }
    if (s.primary) role.primary = s;
  }
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("no site named \"", site_name, "\" in geo_nodes of ", main.display_name()));
  }
  auto r = main.Exec(
      "SELECT pg_is_in_recovery(), (SELECT reason FROM georep.maintenance), "
      "EXISTS (SELECT 1 FROM georep.maintenance)");
  if (!r.ok()) return r.status();
  role.standby = r->GetBool(0, 0);
  role.maintenance = r->GetBool(0, 2);
  role.maintenance_reason = std::string(r->Get(0, 1));
  auto fence = ReadFence(main);
  if (!fence.ok()) return fence.status();
  role.fence = *fence;
  return role;
}

absl::Status SetMaintenance(db::Connection& main, bool on, const std::string& reason) {
  if (!on) return main.Exec("DELETE FROM georep.maintenance").status();
  return main
      .Exec(
          "INSERT INTO georep.maintenance (reason) VALUES ($1) "
          "ON CONFLICT (only_row) DO UPDATE SET reason = EXCLUDED.reason",
          {reason})
      .status();
}

absl::Status PromoteDatabase(db::Connection& main, int wait_seconds) {
  auto standby = main.InRecovery();
  if (!standby.ok()) return standby.status();
  if (!*standby) {
    return absl::FailedPreconditionError(absl::StrCat("main database (", main.display_name(),
                                                      ") is not a standby: nothing to promote"));
  }
  auto r = main.Exec("SELECT pg_promote(true, $1)", {absl::StrCat(wait_seconds)});
  if (!r.ok()) return r.status();
  if (!r->GetBool(0, 0)) {
    return absl::DeadlineExceededError(absl::StrCat("the standby (", main.display_name(),
                                                    ") did not finish promoting within ",
                                                    wait_seconds, " s"));
  }
  return absl::OkStatus();
}

absl::Status RecordPromotion(db::Connection& main, const std::string& new_primary,
                             const std::function<absl::Status()>& also) {
  return db::InTransaction(
      main,
      [&]() -> absl::Status {
        auto old = main.Exec(
            "UPDATE georep.geo_nodes SET is_primary = false, enabled = false, updated_at = now() "
            "WHERE is_primary AND name <> $1",
            {new_primary});
        if (!old.ok()) return old.status();
        auto now = main.Exec(
            "UPDATE georep.geo_nodes SET is_primary = true, enabled = true, updated_at = now() "
            "WHERE name = $1",
            {new_primary});
        if (!now.ok()) return now.status();
        if (now->affected_rows() != 1) {
          return absl::NotFoundError(
              absl::StrCat("no site named \"", new_primary, "\" in geo_nodes"));
        }
        if (auto lifted = LiftFenceInTransaction(main); !lifted.ok()) return lifted.status();
        if (also) {
          if (auto s = also(); !s.ok()) return s;
        }
        return main.Exec("DELETE FROM georep.maintenance").status();
      },
      db::TransactionMode::kReadWrite);
}

RoleState LiveRole::Get() const {
  MutexLock lock(&mu_);
  return state_;
}

bool LiveRole::primary() const {
  MutexLock lock(&mu_);
  return state_.self.primary;
}

void LiveRole::Set(RoleState state) {
  MutexLock lock(&mu_);
  state_ = std::move(state);
}

LiveRole::WriteTicket::~WriteTicket() {
  if (role_ == nullptr) return;
  MutexLock lock(&role_->mu_);
  --role_->in_flight_;
}

absl::StatusOr<LiveRole::WriteTicket> LiveRole::BeginWrite() const {
  MutexLock lock(&mu_);
  if (!state_.self.primary) {
    return absl::FailedPreconditionError(
        state_.primary ? absl::StrCat("site \"", state_.self.name,
                                      "\" is a read-only secondary; write to the primary \"",
                                      state_.primary->name, "\" at ", state_.primary->url)
                       : absl::StrCat("site \"", state_.self.name,
                                      "\" is a read-only secondary and no primary is recorded"));
  }
  if (state_.fence) {
    return absl::UnavailableError(absl::StrCat("site \"", state_.self.name, "\" is fenced since ",
                                               state_.fence->since, " (", state_.fence->reason,
                                               "): writes are refused"));
  }
  if (state_.maintenance) {
    return absl::UnavailableError(absl::StrCat(
        "site \"", state_.self.name, "\" is in maintenance mode",
        state_.maintenance_reason.empty() ? "" : absl::StrCat(" (", state_.maintenance_reason, ")"),
        ": writes are refused until it ends"));
  }
  ++in_flight_;
  return WriteTicket(this);
}

int64_t LiveRole::writes_in_flight() const {
  MutexLock lock(&mu_);
  return in_flight_;
}

}  // namespace georep::site

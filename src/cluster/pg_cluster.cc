#include "cluster/pg_cluster.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "db/connection.h"
#include "util/fs.h"
#include "util/subprocess.h"

namespace georep::cluster {
namespace fs = std::filesystem;

absl::StatusOr<std::string> PgBinDir() {
  if (const char* env = std::getenv("GEOREP_PG_BIN"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  std::string best;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    std::string bin = (entry.path() / "bin").string();
    if (fs::exists(bin + "/initdb") && bin > best) best = bin;
  }
  if (best.empty()) {
    return absl::NotFoundError(
        "no PostgreSQL server programs under /usr/lib/postgresql/*/bin (install postgresql-15, "
        "or set GEOREP_PG_BIN)");
  }
  return best;
}

namespace {

absl::StatusOr<std::string> PgRun(const std::string& program, std::vector<std::string> args) {
  auto bin = PgBinDir();
  if (!bin.ok()) return bin.status();
  args.insert(args.begin(), absl::StrCat(*bin, "/", program));
  return RunChecked(AsUnprivileged(kPostgresUser, std::move(args)));
}

absl::Status PrepareDirs(const ClusterOptions& opt) {
  if (auto s = MakeDirs(opt.data_dir, 0700, kPostgresUser); !s.ok()) return s;
  return MakeDirs(fs::path(opt.log_path).parent_path().string(), 0755, kPostgresUser);
}

}  // namespace

bool PgCluster::Exists() const { return fs::exists(fs::path(opt_.data_dir) / "PG_VERSION"); }

bool PgCluster::IsRunning() const {
  if (!Exists()) return false;
  auto bin = PgBinDir();
  if (!bin.ok()) return false;
  auto r = Run(AsUnprivileged(kPostgresUser, {*bin + "/pg_ctl", "-D", opt_.data_dir, "status"}));
  return r.ok() && r->exit_code == 0;
}

absl::Status PgCluster::AppendSettings(const std::string& text) {
  std::ofstream conf(fs::path(opt_.data_dir) / "postgresql.conf", std::ios::app);
  conf << "\n# Georep\n" << text;
  conf.close();
  if (!conf)
    return absl::InternalError(absl::StrCat("append to ", opt_.data_dir, "/postgresql.conf"));
  return absl::OkStatus();
}

absl::Status PgCluster::Init() {
  if (auto s = PrepareDirs(opt_); !s.ok()) return s;
  auto out =
      PgRun("initdb", {"-D", opt_.data_dir, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                       "--locale=C.UTF-8", "--no-sync", "--data-checksums"});
  if (!out.ok()) return out.status();
  std::string settings = absl::StrCat("port = ", opt_.port,
                                      "\nlisten_addresses = '127.0.0.1'\n"
                                      "unix_socket_directories = ''\n"
                                      "max_wal_senders = 10\nmax_replication_slots = 10\n"
                                      // pg_rewind of a former primary reads its WAL back
                                      // to the last checkpoint it shares with the new one.
                                      "wal_keep_size = '128MB'\n");
  if (opt_.unsafe_fast) {
    settings += "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n";
  }
  return AppendSettings(settings);
}

absl::Status PgCluster::InitStandby(int primary_port, const std::string& slot) {
  if (auto s = PrepareDirs(opt_); !s.ok()) return s;
  {
    auto conn = db::Connection::Open(
        absl::StrCat("host=127.0.0.1 port=", primary_port, " dbname=postgres user=postgres"));
    if (!conn.ok()) return conn.status();
    auto r = (*conn)->Exec(
        "SELECT pg_create_physical_replication_slot($1) WHERE NOT EXISTS "
        "(SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
        {slot});
    if (!r.ok()) return r.status();
  }
  auto out =
      PgRun("pg_basebackup", {"-h", "127.0.0.1", "-p", absl::StrCat(primary_port), "-U", "postgres",
                              "-D", opt_.data_dir, "-R", "-S", slot, "-X", "stream", "-c", "fast"});
  if (!out.ok()) return out.status();
  // The copied postgresql.conf carries the primary's port; the last setting wins.
  return AppendSettings(absl::StrCat("port = ", opt_.port, "\n"));
}

std::string SourceConninfo(const ReplicaSource& source, bool with_password) {
  std::string conn =
      absl::StrCat("host=", db::QuoteConninfoValue(source.host), " port=", source.port,
                   " user=", db::QuoteConninfoValue(source.user));
  if (!source.sslmode.empty())
    absl::StrAppend(&conn, " sslmode=", db::QuoteConninfoValue(source.sslmode));
  if (!source.application_name.empty())
    absl::StrAppend(&conn, " application_name=", db::QuoteConninfoValue(source.application_name));
  if (with_password && !source.password.empty())
    absl::StrAppend(&conn, " password=", db::QuoteConninfoValue(source.password));
  return conn;
}

absl::Status ReplicateFrom(const ReplicaSource& source, const std::string& data_dir) {
  std::error_code ec;
  if (fs::exists(data_dir, ec) && !fs::is_empty(data_dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("data directory ", data_dir,
                                                   fs::exists(fs::path(data_dir) / "PG_VERSION")
                                                       ? " already holds a PostgreSQL cluster"
                                                       : " is not empty",
                                                   ": give an absent or empty one"));
  }
  if (auto s = MakeDirs(data_dir, 0700, kPostgresUser); !s.ok()) return s;
  auto bin = PgBinDir();
  if (!bin.ok()) return bin.status();
  std::string conn = SourceConninfo(source, /*with_password=*/false);
  RunOptions options;
  if (!source.password.empty()) options.extra_env.push_back("PGPASSWORD=" + source.password);
  auto run = [&](bool create_slot) {
    std::vector<std::string> argv = {*bin + "/pg_basebackup",
                                     "-d",
                                     conn,
                                     "-D",
                                     data_dir,
                                     "-R",
                                     "-X",
                                     "stream",
                                     "-c",
                                     "fast",
                                     "-S",
                                     source.slot};
    if (create_slot) argv.push_back("-C");
    return Run(AsUnprivileged(kPostgresUser, argv), options);
  };
  auto r = run(true);
  if (r.ok() && r->exit_code != 0 && r->output.find("already exists") != std::string::npos) {
    // The slot is there (a standby made before): use it.
    std::error_code ignored;
    for (const auto& e : fs::directory_iterator(data_dir, ignored))
      fs::remove_all(e.path(), ignored);
    r = run(false);
  }
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    std::error_code ignored;
    for (const auto& e : fs::directory_iterator(data_dir, ignored))
      fs::remove_all(e.path(), ignored);
    std::string out = r->output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return absl::UnavailableError(
        absl::StrCat("pg_basebackup from ", source.host, ":", source.port, " failed: ", out));
  }
  return absl::OkStatus();
}

absl::StatusOr<RewindOutcome> RewindToStandby(const ReplicaSource& source,
                                              const std::string& data_dir) {
  PgCluster target({.data_dir = data_dir});
  if (!target.Exists()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no PostgreSQL cluster in ", data_dir, " (no PG_VERSION)"));
  }
  if (target.IsRunning()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL runs on ", data_dir, ": stop it first (pg_rewind needs it shut down)"));
  }
  auto bin = PgBinDir();
  if (!bin.ok()) return bin.status();
  // A newly promoted server's control file names its new timeline only
  // after a checkpoint; until then pg_rewind sees "the same timeline" and
  // does nothing.
  std::string source_conninfo = SourceConninfo(source, false) + " dbname=postgres";
  auto conn = db::Connection::Open(SourceConninfo(source, true) + " dbname=postgres");
  if (!conn.ok()) return conn.status();
  if (auto c = (*conn)->Exec("CHECKPOINT"); !c.ok()) {
    return absl::Status(c.status().code(),
                        absl::StrCat("CHECKPOINT on the new primary (needed before pg_rewind; a "
                                     "superuser or a member of pg_checkpoint): ",
                                     c.status().message()));
  }
  conn->reset();
  // pg_rewind copies the source's configuration files over the target's;
  // the target keeps its own (port, paths, access rules).
  std::vector<std::pair<std::string, std::string>> kept;
  for (const char* name : {"postgresql.conf", "pg_hba.conf", "pg_ident.conf"}) {
    std::string path = (fs::path(data_dir) / name).string();
    if (!fs::exists(path)) continue;
    auto text = ReadFile(path);
    if (!text.ok()) return text.status();
    kept.emplace_back(path, *text);
  }
  RunOptions options;
  if (!source.password.empty()) options.extra_env.push_back("PGPASSWORD=" + source.password);
  auto r = Run(
      AsUnprivileged(kPostgresUser, {*bin + "/pg_rewind", "--target-pgdata", data_dir,
                                     "--source-server", source_conninfo, "--write-recovery-conf"}),
      options);
  if (!r.ok()) return r.status();
  std::string out = r->output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  if (r->exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("pg_rewind of ", data_dir, " from ", source.host,
                                               ":", source.port, " failed: ", out));
  }
  RewindOutcome outcome{out.find("no rewind required") == std::string::npos, out};
  for (const auto& [path, text] : kept) {
    // Rewritten in place: the file pg_rewind left belongs to postgres.
    std::ofstream f(path, std::ios::trunc);
    f << text;
    f.close();
    if (!f) return absl::InternalError(absl::StrCat("restore ", path, " after pg_rewind"));
  }
  // pg_rewind -R writes primary_conninfo; the slot is ours to add.
  std::ofstream conf(fs::path(data_dir) / "postgresql.auto.conf", std::ios::app);
  conf << "primary_slot_name = '" << source.slot << "'\n";
  conf.close();
  if (!conf) {
    return absl::InternalError(absl::StrCat("append to ", data_dir, "/postgresql.auto.conf"));
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(data_dir) / "pg_replslot", ec)) {
    fs::remove_all(e.path(), ec);
    if (ec)
      return absl::InternalError(absl::StrCat("remove ", e.path().string(), ": ", ec.message()));
  }
  return outcome;
}

absl::Status PgCluster::Start() {
  if (IsRunning()) return absl::OkStatus();
  if (auto s = PrepareDirs(opt_); !s.ok()) return s;
  auto out = PgRun("pg_ctl", {"-D", opt_.data_dir, "-l", opt_.log_path, "-w", "-t", "60", "start"});
  if (!out.ok()) {
    return absl::UnavailableError(absl::StrCat("start PostgreSQL in ", opt_.data_dir, " on port ",
                                               opt_.port, ": ", out.status().message(), " (see ",
                                               opt_.log_path, ")"));
  }
  return absl::OkStatus();
}

absl::Status PgCluster::Stop(bool immediate) {
  if (!IsRunning()) return absl::OkStatus();
  auto out = PgRun("pg_ctl", {"-D", opt_.data_dir, "-m", immediate ? "immediate" : "fast", "-w",
                              "-t", "60", "stop"});
  return out.status();
}

absl::Status PgCluster::CreateDatabase(const std::string& name) {
  auto conn = db::Connection::Open(Conninfo("postgres"));
  if (!conn.ok()) return conn.status();
  auto exists = (*conn)->Exec("SELECT 1 FROM pg_database WHERE datname = $1", {name});
  if (!exists.ok()) return exists.status();
  if (exists->rows() > 0) return absl::OkStatus();
  return (*conn)->Exec("CREATE DATABASE " + db::QuoteIdent(name)).status();
}

std::string PgCluster::Conninfo(const std::string& dbname) const {
  return absl::StrCat("host=127.0.0.1 port=", opt_.port, " dbname=", dbname, " user=postgres");
}

}  // namespace georep::cluster

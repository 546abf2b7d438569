#include "cli/verbs.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "transport/http_client.h"

namespace georep::cli {

int Fail(int code, absl::string_view verb, absl::string_view message) {
  std::fprintf(stderr, "georep %.*s: %.*s\n", static_cast<int>(verb.size()), verb.data(),
               static_cast<int>(message.size()), message.data());
  return code;
}

int CodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
      return 2;
    default:
      return 1;
  }
}

std::string DefaultConfigPath() {
  const char* named = std::getenv("GEOREP_CONFIG");
  if (named != nullptr && *named != '\0') return named;
  if (access("georep.toml", F_OK) == 0) return "./georep.toml";
  return "/etc/georep/georep.toml";
}

void AddConfig(CLI::App* verb, VerbContext& ctx) {
  verb->add_option("-c,--config", ctx.config_path,
                   "Site configuration file (TOML); without it, $GEOREP_CONFIG, else "
                   "./georep.toml if there is one, else /etc/georep/georep.toml")
      ->capture_default_str();
}

std::unique_ptr<config::Config> LoadConfigOrFail(VerbContext& ctx) {
  auto config = config::LoadConfig(ctx.config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "georep: %s\n", std::string(config.status().message()).c_str());
    ctx.exit_code = 2;
    return nullptr;
  }
  transport::SetTrustedCaFile(config->ca_file);
  return std::make_unique<config::Config>(std::move(*config));
}

absl::StatusOr<std::unique_ptr<db::Connection>> OpenMain(const config::Config& config) {
  auto conn = db::Connection::Open(config.main_database);
  if (!conn.ok()) {
    return absl::Status(conn.status().code(),
                        absl::StrCat("main database (setting \"database.main\" in ", config.path,
                                     "): ", conn.status().message()));
  }
  return conn;
}

int OpenSecondary(const config::Config& config, const char* verb, SecondaryDatabases* out) {
  auto dbs = failover::OpenSecondaryDatabases(config);
  if (!dbs.ok()) return Fail(CodeFor(dbs.status()), verb, dbs.status().message());
  *out = std::move(*dbs);
  return 0;
}

}  // namespace georep::cli

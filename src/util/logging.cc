#include "util/logging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/sinks/systemd_sink.h"
#include "spdlog/spdlog.h"

namespace georep::log {
namespace {

// Whether stderr is the journal: systemd says so in $JOURNAL_STREAM
// ("device:inode" of the stream it connected).
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  unsigned long long dev = 0, ino = 0;
  if (stream == nullptr || std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

std::shared_ptr<spdlog::logger> MakeLogger() {
  if (StderrIsJournal()) {
    // Under systemd: each line a journal entry with its priority (warning,
    // err …), its text the JSON object without the time and level the
    // journal keeps itself.
    auto logger = spdlog::systemd_logger_mt("georep", "georep", /*enable_formatting=*/true);
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "{%v}", spdlog::pattern_time_type::utc, /*eol=*/""));
    logger->set_level(spdlog::level::info);
    return logger;
  }
  auto logger = spdlog::stderr_logger_mt("georep");
  // The message (%v) is the rest of a JSON object, so each line is one object.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::debug);
  return logger;
}

spdlog::logger& Logger() {
  static std::shared_ptr<spdlog::logger> logger = MakeLogger();
  return *logger;
}

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

absl::StatusOr<Level> ParseLevel(absl::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("\"", name, "\" is not one of debug, info, warn, error"));
}

void SetLevel(Level level) { Logger().set_level(ToSpd(level)); }

void Write(Level level, absl::string_view msg, Fields fields) {
  auto& logger = Logger();
  if (!logger.should_log(ToSpd(level))) return;
  nlohmann::ordered_json j;
  j["msg"] = msg;
  for (const Field& f : fields) {
    std::visit([&](const auto& v) { j[std::string(f.key)] = v; }, f.value);
  }
  std::string body = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  // Strip the outer braces: the pattern supplies them around ts and level.
  logger.log(ToSpd(level), spdlog::string_view_t(body.data() + 1, body.size() - 2));
}

}  // namespace georep::log

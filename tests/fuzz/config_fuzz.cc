// A site's configuration file: any bytes either load or are refused with an
// error that names the file; nothing crashes, and a loaded configuration
// renders to TOML that loads again.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "config/config.h"

namespace {
std::string Path(const char* name) {
  static std::string dir = [] {
    char tmpl[] = "/dev/shm/georep-fuzz-config-XXXXXX";
    char* made = mkdtemp(tmpl);
    if (made == nullptr) abort();
    return std::string(made);
  }();
  return dir + "/" + name;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace georep::config;
  const std::string path = Path("georep.toml");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  EnvLookup no_env = [](const std::string&) { return std::nullopt; };
  auto config = LoadConfig(path, no_env, {});
  if (!config.ok()) {
    if (!absl::StrContains(config.status().message(), path)) abort();
    return 0;
  }
  const std::string again = Path("rendered.toml");
  {
    std::ofstream out(again, std::ios::trunc);
    out << RenderConfig(*config);
  }
  auto reloaded = LoadConfig(again, no_env, {});
  if (!reloaded.ok()) abort();
  if (reloaded->site_name != config->site_name || reloaded->http_listen != config->http_listen)
    abort();
  return 0;
}

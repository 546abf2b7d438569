// The table of a site's settings (settings.cc): each setting's key, type,
// help, how a value is checked and stored into a Config, and how it is read
// back. Loading (config.cc), rendering, the reference and --help all read
// it. Private to src/config/.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "config/config.h"

namespace georep::config {

using List = std::vector<std::string>;
using Value = std::variant<std::string, int64_t, double, bool, List>;
enum class Type { kString, kInt, kDouble, kBool, kList };

struct SettingDef {
  absl::string_view key;
  Type type;
  absl::string_view help;
  // Stores the value into the config, or says what is wrong with it.
  std::function<absl::Status(Config&, const Value&)> apply;
  std::function<std::optional<Value>(const Config&)> read;  // for rendering
};

// Every setting, in the order files, the reference and --help show them.
const std::vector<SettingDef>& Settings();

// The environment variable of a setting: "database.main" is
// GEOREP_DATABASE_MAIN.
std::string EnvName(absl::string_view key);

// "a string", "an integer", ...: what a setting of type `t` takes.
const char* TypeName(Type t);

}  // namespace georep::config

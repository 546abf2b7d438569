#include "util/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace georep {
namespace {

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

MetricsRegistry::MetricsRegistry(std::vector<MetricDef> defs) : defs_(std::move(defs)) {}

void MetricsRegistry::CheckDeclared(absl::string_view name) const {
  for (const auto& d : defs_) {
    if (d.name == name) return;
  }
  std::fprintf(stderr, "metric %.*s is not declared\n", static_cast<int>(name.size()), name.data());
  std::abort();  // a bug: every metric is declared in its list
}

void MetricsRegistry::Set(absl::string_view name, const Labels& labels, double value) {
  CheckDeclared(name);
  MutexLock lock(&mu_);
  values_[std::string(name)][labels] = value;
}

void MetricsRegistry::Add(absl::string_view name, const Labels& labels, double delta) {
  CheckDeclared(name);
  MutexLock lock(&mu_);
  values_[std::string(name)][labels] += delta;
}

void MetricsRegistry::Clear(absl::string_view name) {
  MutexLock lock(&mu_);
  auto it = values_.find(name);
  if (it != values_.end()) it->second.clear();
}

std::string MetricsRegistry::Render() const {
  MutexLock lock(&mu_);
  std::string out;
  for (const auto& d : defs_) {
    auto it = values_.find(d.name);
    if (it == values_.end() || it->second.empty()) continue;
    absl::StrAppend(&out, "# HELP ", d.name, " ", d.help, "\n# TYPE ", d.name, " ", d.type, "\n");
    for (const auto& [labels, value] : it->second) {
      out += d.name;
      if (!labels.empty()) {
        out += '{';
        for (size_t i = 0; i < labels.size(); ++i) {
          absl::StrAppend(&out, i ? "," : "", labels[i].first, "=\"", EscapeLabel(labels[i].second),
                          "\"");
        }
        out += '}';
      }
      absl::StrAppend(&out, " ", FormatValue(value), "\n");
    }
  }
  return out;
}

}  // namespace georep

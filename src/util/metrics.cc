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

// {a="x",b="y"}, or nothing without labels.
std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", labels[i].first, "=\"", EscapeLabel(labels[i].second),
                    "\"");
  }
  return out + "}";
}

}  // namespace

MetricsRegistry::MetricsRegistry(std::vector<MetricDef> defs) : defs_(std::move(defs)) {}

const MetricDef& MetricsRegistry::Declared(absl::string_view name) const {
  for (const auto& d : defs_) {
    if (d.name == name) return d;
  }
  std::fprintf(stderr, "metric %.*s is not declared\n", static_cast<int>(name.size()), name.data());
  std::abort();  // a bug: every metric is declared in its list
}

void MetricsRegistry::Set(absl::string_view name, const Labels& labels, double value) {
  Declared(name);
  MutexLock lock(&mu_);
  values_[std::string(name)][labels] = value;
}

void MetricsRegistry::Add(absl::string_view name, const Labels& labels, double delta) {
  Declared(name);
  MutexLock lock(&mu_);
  values_[std::string(name)][labels] += delta;
}

void MetricsRegistry::Observe(absl::string_view name, const Labels& labels, double value) {
  const MetricDef& d = Declared(name);
  MutexLock lock(&mu_);
  Histogram& h = histograms_[std::string(name)][labels];
  if (h.counts.empty()) h.counts.assign(d.buckets.size() + 1, 0);  // the last is +Inf
  size_t i = 0;
  while (i < d.buckets.size() && value > d.buckets[i]) ++i;
  ++h.counts[i];
  h.sum += value;
  ++h.count;
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
    if (d.type == "histogram") {
      auto h = histograms_.find(d.name);
      if (h == histograms_.end() || h->second.empty()) continue;
      absl::StrAppend(&out, "# HELP ", d.name, " ", d.help, "\n# TYPE ", d.name, " histogram\n");
      for (const auto& [labels, hist] : h->second) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i < hist.counts.size(); ++i) {
          cumulative += hist.counts[i];
          Labels with_le = labels;
          with_le.push_back(
              {"le", i < d.buckets.size() ? FormatValue(d.buckets[i]) : std::string("+Inf")});
          absl::StrAppend(&out, d.name, "_bucket", RenderLabels(with_le), " ", cumulative, "\n");
        }
        absl::StrAppend(&out, d.name, "_sum", RenderLabels(labels), " ", FormatValue(hist.sum),
                        "\n", d.name, "_count", RenderLabels(labels), " ", hist.count, "\n");
      }
      continue;
    }
    auto it = values_.find(d.name);
    if (it == values_.end() || it->second.empty()) continue;
    absl::StrAppend(&out, "# HELP ", d.name, " ", d.help, "\n# TYPE ", d.name, " ", d.type, "\n");
    for (const auto& [labels, value] : it->second) {
      absl::StrAppend(&out, d.name, RenderLabels(labels), " ", FormatValue(value), "\n");
    }
  }
  return out;
}

}  // namespace georep

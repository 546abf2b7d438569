// Prometheus text exposition from a fixed list of metric definitions.
//
// Every metric is declared once (name, type, help) in a list; the /metrics
// endpoint, the status API and the admin page read that list. Values are set
// by name with label values. Thread-safe.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "util/mutex.h"

namespace georep {

struct MetricDef {
  std::string name;
  std::string type;  // "gauge", "counter" or "histogram"
  std::string help;
  std::vector<double> buckets = {};  // histogram: upper bounds, ascending (+Inf is implied)
};

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  explicit MetricsRegistry(std::vector<MetricDef> defs);

  // Sets a value; aborts if `name` is not in the list (a bug, not input).
  void Set(absl::string_view name, const Labels& labels, double value);
  // Adds to a value (counters).
  void Add(absl::string_view name, const Labels& labels, double delta);
  // Counts one observation into a histogram's buckets, sum and count.
  void Observe(absl::string_view name, const Labels& labels, double value);
  // Removes every series of `name` (e.g. before re-publishing a labelled set).
  void Clear(absl::string_view name);

  // Prometheus text format 0.0.4.
  std::string Render() const;

 private:
  const MetricDef& Declared(absl::string_view name) const;
  struct Histogram {
    std::vector<uint64_t> counts;  // per bucket, not cumulative
    double sum = 0;
    uint64_t count = 0;
  };
  std::vector<MetricDef> defs_;
  mutable Mutex mu_;
  std::map<std::string, std::map<Labels, double>, std::less<>> values_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<Labels, Histogram>, std::less<>> histograms_ ABSL_GUARDED_BY(mu_);
};

}  // namespace georep

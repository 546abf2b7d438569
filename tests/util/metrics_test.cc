#include "util/metrics.h"

#include "gtest/gtest.h"

namespace georep {
namespace {

const std::vector<MetricDef> kDefs = {
    {"geo_things_total", "counter", "Things seen"},
    {"geo_lag_seconds", "gauge", "Lag"},
};

TEST(MetricsTest, RendersHelpTypeAndLabelledSeries) {
  MetricsRegistry m(kDefs);
  m.Set("geo_lag_seconds", {}, 1.5);
  m.Set("geo_things_total", {{"type", "upload"}}, 3);
  m.Set("geo_things_total", {{"type", "lfs\"x"}}, 4);
  std::string text = m.Render();
  EXPECT_NE(text.find("# HELP geo_things_total Things seen\n# TYPE geo_things_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("geo_things_total{type=\"upload\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("geo_things_total{type=\"lfs\\\"x\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("geo_lag_seconds 1.5\n"), std::string::npos);
}

TEST(MetricsTest, OmitsMetricsWithoutValuesAndClears) {
  MetricsRegistry m(kDefs);
  EXPECT_EQ(m.Render(), "");
  m.Set("geo_lag_seconds", {}, 0);
  m.Clear("geo_lag_seconds");
  EXPECT_EQ(m.Render(), "");
}

TEST(MetricsDeathTest, UndeclaredMetricIsABug) {
  MetricsRegistry m(kDefs);
  EXPECT_DEATH(m.Set("geo_undeclared", {}, 1), "not declared");
}

}  // namespace
}  // namespace georep

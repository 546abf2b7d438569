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

TEST(MetricsTest, HistogramsRenderCumulativeBucketsSumAndCount) {
  MetricsRegistry m({{"geo_wait_seconds", "histogram", "Waits", {0.1, 1, 10}}});
  for (double v : {0.05, 0.1, 0.5, 3.0, 30.0}) m.Observe("geo_wait_seconds", {{"kind", "a"}}, v);
  std::string text = m.Render();
  EXPECT_NE(text.find("# TYPE geo_wait_seconds histogram\n"), std::string::npos) << text;
  EXPECT_NE(text.find("geo_wait_seconds_bucket{kind=\"a\",le=\"0.1\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("geo_wait_seconds_bucket{kind=\"a\",le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("geo_wait_seconds_bucket{kind=\"a\",le=\"10\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("geo_wait_seconds_bucket{kind=\"a\",le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("geo_wait_seconds_sum{kind=\"a\"} 33.65\n"), std::string::npos) << text;
  EXPECT_NE(text.find("geo_wait_seconds_count{kind=\"a\"} 5\n"), std::string::npos);
}

TEST(MetricsDeathTest, UndeclaredMetricIsABug) {
  MetricsRegistry m(kDefs);
  EXPECT_DEATH(m.Set("geo_undeclared", {}, 1), "not declared");
}

}  // namespace
}  // namespace georep

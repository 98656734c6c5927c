// Metrics registry and its text exposition; MetricsHttp's address rules.
#include "kith/daemon/observability/metrics.h"

#include <boost/test/unit_test.hpp>
#include <thread>
#include <vector>

#include "../../../helpers/prometheus_text.h"
#include "kith/daemon/observability/metrics_http.h"

using namespace kith;
using namespace kith::daemon;
using kith::test::sampleValue;
using kith::test::validExposition;

BOOST_AUTO_TEST_SUITE(daemon_metrics)

BOOST_AUTO_TEST_CASE(counters_gauges_and_labels_render_in_the_exposition_format) {
  Metrics m;
  Counter& c = m.counter("t_requests_total", "Requests\nhandled", {{"op", "hello"}});
  Counter& c2 = m.counter("t_requests_total", "ignored: first help wins", {{"op", "reg\"ister\\\n"}});
  Gauge& g = m.gauge("t_temperature", "A gauge");
  c.add();
  c.add(4);
  c2.add();
  g.set(-2.5);
  std::string text = m.render();
  std::string why;
  BOOST_TEST(validExposition(text, &why), why << "\n" << text);
  BOOST_TEST(text.find("# HELP t_requests_total Requests\\nhandled\n") != std::string::npos, text);
  BOOST_TEST(text.find("# TYPE t_requests_total counter\n") != std::string::npos);
  BOOST_TEST(text.find("# TYPE t_temperature gauge\n") != std::string::npos);
  BOOST_TEST(*sampleValue(text, "t_requests_total{op=\"hello\"}") == 5.0);
  BOOST_TEST(*sampleValue(text, "t_requests_total{op=\"reg\\\"ister\\\\\\n\"}") == 1.0, text);
  BOOST_TEST(*sampleValue(text, "t_temperature") == -2.5);
}

BOOST_AUTO_TEST_CASE(the_same_series_is_the_same_handle_whatever_the_label_order) {
  Metrics m;
  Counter& a = m.counter("t_x_total", "x", {{"a", "1"}, {"b", "2"}});
  Counter& b = m.counter("t_x_total", "x", {{"b", "2"}, {"a", "1"}});
  BOOST_TEST(&a == &b);
  a.add(2);
  BOOST_TEST(*sampleValue(m.render(), "t_x_total{a=\"1\",b=\"2\"}") == 2.0);
}

BOOST_AUTO_TEST_CASE(collectors_run_before_each_render_and_can_be_removed) {
  Metrics m;
  int n = 0;
  uint64_t id = m.addCollector([&] { m.gauge("t_runs", "runs").set(++n); });
  BOOST_TEST(*sampleValue(m.render(), "t_runs") == 1.0);
  BOOST_TEST(*sampleValue(m.render(), "t_runs") == 2.0);
  m.removeCollector(id);
  BOOST_TEST(*sampleValue(m.render(), "t_runs") == 2.0);
  BOOST_TEST(n == 2);
}

BOOST_AUTO_TEST_CASE(counters_bumped_from_many_threads_lose_nothing) {
  Metrics m;
  Counter& c = m.counter("t_threads_total", "t");
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      for (int k = 0; k < 100000; ++k) c.add();
    });
  }
  for (auto& t : ts) t.join();
  BOOST_TEST(c.value() == 400000u);
}

BOOST_AUTO_TEST_CASE(names_follow_the_exposition_grammar) {
  BOOST_TEST(Metrics::validName("kith_workloads"));
  BOOST_TEST(Metrics::validName("a:b_c9"));
  BOOST_TEST(!Metrics::validName("9abc"));
  BOOST_TEST(!Metrics::validName("a-b"));
  BOOST_TEST(!Metrics::validName(""));
  BOOST_TEST(Metrics::validLabelName("code"));
  BOOST_TEST(!Metrics::validLabelName("__reserved"));
  BOOST_TEST(!Metrics::validLabelName("a:b"));
}

BOOST_AUTO_TEST_CASE(api_errors_are_counted_by_stable_code) {
  double before = static_cast<double>(apiErrorCounter(Code::kUnauthorized).value());
  countApiError(Code::kUnauthorized);
  countApiError(Code::kStorage);  // an internal category: answered and counted as INTERNAL
  std::string text = metrics().render();
  BOOST_TEST(*sampleValue(text, "kith_api_errors_total{code=\"UNAUTHORIZED\"}") == before + 1);
  BOOST_TEST(sampleValue(text, "kith_api_errors_total{code=\"INTERNAL\"}").value_or(0) >= 1.0);
  BOOST_TEST(sampleValue(text, "kith_api_errors_total{code=\"RATE_LIMITED\"}").has_value());
}

BOOST_AUTO_TEST_CASE(the_validator_rejects_what_is_not_exposition_text) {
  std::string why;
  BOOST_TEST(!validExposition("a 1", &why));  // no final newline
  BOOST_TEST(!validExposition("# TYPE a counter\na{b=\"x} 1\n", &why));
  BOOST_TEST(!validExposition("a 1\n", &why));  // sample before TYPE
  BOOST_TEST(!validExposition("# TYPE a gauge\n# TYPE a gauge\na 1\n", &why));
  BOOST_TEST(!validExposition("# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na 2\n", &why));
  BOOST_TEST(!validExposition("# TYPE a gauge\na one\n", &why));
  BOOST_TEST(validExposition("# TYPE a gauge\na{b=\"q\\\"\"} +Inf\n", &why), why);
}

BOOST_AUTO_TEST_CASE(listen_addresses_parse_and_only_loopback_is_loopback) {
  std::string host;
  uint16_t port = 0;
  bool lo = false;
  BOOST_TEST(MetricsHttp::parseListen("127.0.0.1:9464", false, &host, &port, &lo).isOk());
  BOOST_TEST((lo && port == 9464 && host == "127.0.0.1"));
  BOOST_TEST(MetricsHttp::parseListen("[::1]:0", true, &host, &port, &lo).isOk());
  BOOST_TEST((lo && port == 0 && host == "::1"));
  BOOST_TEST(MetricsHttp::parseListen("localhost:1", false, &host, &port, &lo).isOk());
  BOOST_TEST(lo);
  BOOST_TEST(MetricsHttp::parseListen("0.0.0.0:9464", false, &host, &port, &lo).isOk());
  BOOST_TEST(!lo);
  BOOST_TEST(MetricsHttp::parseListen("[::]:9464", false, &host, &port, &lo).isOk());
  BOOST_TEST(!lo);
  BOOST_TEST(!MetricsHttp::parseListen("127.0.0.1:0", false, &host, &port, &lo).isOk());
  BOOST_TEST(!MetricsHttp::parseListen("127.0.0.1", false, &host, &port, &lo).isOk());
  BOOST_TEST(!MetricsHttp::parseListen("example.org:80", false, &host, &port, &lo).isOk());
  BOOST_TEST(!MetricsHttp::parseListen("127.0.0.1:70000", false, &host, &port, &lo).isOk());
}

BOOST_AUTO_TEST_SUITE_END()

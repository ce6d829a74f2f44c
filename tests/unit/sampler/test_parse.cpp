// Pure parsers of the sampling sources: junk must be an error, never a crash (R3, R4).
#include "sampler/parse.hpp"

#include <catch2/catch.hpp>

using namespace cats::sampler;
using cats::metrics::MetricType;

TEST_CASE("load JSON: the synthetic app's answer") {
  auto r = parse_load_json(
      R"({"name":"app1","vcpus":6,"utilization":0.5,"processing_delay_ms":21.5,"active_sessions":3,"background":0.5})");
  REQUIRE(r.has_value());
  CHECK(r->vcpus == 6);
  CHECK(r->cpu_utilization == 0.5);
  REQUIRE(r->processing_delay_ms.has_value());
  CHECK(*r->processing_delay_ms == 21.5);
  CHECK(r->active_sessions.value_or(-1) == 3);
  CHECK_FALSE(r->gpu_utilization.has_value());
  auto m = to_metrics(*r);
  CHECK(m.size() == 4);
  auto u = cats::metrics::current_value(m, MetricType::cpu_utilization);
  CHECK(u.value_or(-1) == 0.5);
  auto d = cats::metrics::current_value(m, MetricType::processing_delay_ms);
  CHECK(d.value_or(-1) == 21.5);
  for (auto& x : m) CHECK(cats::metrics::is_valid(x));
}

TEST_CASE("load JSON: a delay flagged stale is not reported") {
  auto stale = parse_load_json(R"({"vcpus":6,"utilization":0.2,"processing_delay_ms":48.0,"delay_stale":true})");
  REQUIRE(stale.has_value());
  CHECK_FALSE(stale->processing_delay_ms.has_value());
  auto fresh = parse_load_json(R"({"vcpus":6,"utilization":0.2,"processing_delay_ms":48.0,"delay_stale":false})");
  REQUIRE(fresh.has_value());
  REQUIRE(fresh->processing_delay_ms.has_value());
  CHECK(*fresh->processing_delay_ms == 48.0);
}

TEST_CASE("load JSON: cpu_utilization spelling and gpu") {
  auto r = parse_load_json(R"({"vcpus":2,"cpu_utilization":1,"gpu_utilization":0.25})");
  REQUIRE(r.has_value());
  CHECK(r->gpu_utilization.value_or(-1) == 0.25);
  CHECK(to_metrics(*r).size() == 3);
}

TEST_CASE("load JSON: junk is an error") {
  const char* junk[] = {
      "", "null", "[]", "42", "{", "{\"vcpus\":6}", "{\"utilization\":0.5}",
      R"({"vcpus":"6","utilization":0.5})", R"({"vcpus":0,"utilization":0.5})",
      R"({"vcpus":6,"utilization":1.5})", R"({"vcpus":6,"utilization":-0.1})",
      R"({"vcpus":6,"utilization":0.5,"processing_delay_ms":-1})",
      R"({"vcpus":6,"utilization":0.5,"active_sessions":"many"})",
      R"({"vcpus":6,"utilization":0.5,"gpu_utilization":2})",
      R"({"vcpus":6,"utilization":0.5} trailing)", R"({"vcpus":1e999,"utilization":0.5})",
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
      "\xff\xfe{\"vcpus\":1}"};
  for (auto* j : junk) {
    INFO(j);
    CHECK_FALSE(parse_load_json(j).has_value());
  }
  std::string big(kMaxLoadBody + 1, ' ');
  CHECK_FALSE(parse_load_json(big).has_value());
}

TEST_CASE("cgroup cpu.stat") {
  auto r = parse_cpu_stat_usage("usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n");
  REQUIRE(r.has_value());
  CHECK(*r == 123456);
  CHECK_FALSE(parse_cpu_stat_usage("user_usec 1\n").has_value());
  CHECK_FALSE(parse_cpu_stat_usage("usage_usec x\n").has_value());
  CHECK_FALSE(parse_cpu_stat_usage("usage_usec -1\n").has_value());
  CHECK_FALSE(parse_cpu_stat_usage("usage_usecs 5\n").has_value());
  CHECK_FALSE(parse_cpu_stat_usage("").has_value());
}

TEST_CASE("cgroup cpu.max and cpuset") {
  auto a = parse_cpu_max("200000 100000\n");
  REQUIRE(a.has_value());
  CHECK(a->value_or(0) == 2.0);
  auto b = parse_cpu_max("max 100000\n");
  REQUIRE(b.has_value());
  CHECK_FALSE(b->has_value());
  CHECK_FALSE(parse_cpu_max("max").has_value());
  CHECK_FALSE(parse_cpu_max("100 0").has_value());
  CHECK_FALSE(parse_cpu_max("abc 100").has_value());

  auto c = parse_cpuset_count("0-3,6,8-9\n");
  REQUIRE(c.has_value());
  CHECK(*c == 7);
  auto d = parse_cpuset_count("5");
  REQUIRE(d.has_value());
  CHECK(*d == 1);
  CHECK_FALSE(parse_cpuset_count("").has_value());
  CHECK_FALSE(parse_cpuset_count("3-1").has_value());
  CHECK_FALSE(parse_cpuset_count("0-").has_value());
  CHECK_FALSE(parse_cpuset_count("0,,1").has_value());
  CHECK_FALSE(parse_cpuset_count("0-99999999").has_value());

  auto m = parse_memory_value("max\n");
  REQUIRE(m.has_value());
  CHECK_FALSE(m->has_value());
  auto n = parse_memory_value("1048576\n");
  REQUIRE(n.has_value());
  CHECK(n->value_or(0) == 1048576);
  CHECK_FALSE(parse_memory_value("12k").has_value());
}

TEST_CASE("cgroup usage delta over wall time") {
  using namespace std::chrono_literals;
  // 1 s of CPU over 1 s wall on 2 vCPUs = 50 %.
  CHECK(usage_utilization(1'000'000, 2'000'000, 1s, 2).value_or(-1) == Approx(0.5));
  CHECK(usage_utilization(0, 5'000'000, 1s, 2).value_or(-1) == 1.0);  // clamped
  CHECK_FALSE(usage_utilization(2, 1, 1s, 2).has_value());             // counter went back
  CHECK_FALSE(usage_utilization(1, 2, 0s, 2).has_value());
  CHECK_FALSE(usage_utilization(1, 2, 1s, 0).has_value());
}

TEST_CASE("/proc/stat deltas") {
  const char* a =
      "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\nintr 1 2\n";
  const char* b =
      "cpu  200 0 200 1000 100 0 0 0 0 0\ncpu0 100 0 100 500 50 0 0 0 0 0\ncpu1 100 0 100 500 50 0 0 0 0 0\n";
  auto x = parse_proc_stat(a);
  auto y = parse_proc_stat(b);
  REQUIRE(x.has_value());
  REQUIRE(y.has_value());
  CHECK(x->cpus == 2);
  CHECK(x->total == 1000);
  CHECK(x->busy == 200);
  // busy +200 of total +500 (idle and iowait not busy)
  CHECK(proc_utilization(*x, *y).value_or(-1) == Approx(0.4));
  CHECK_FALSE(proc_utilization(*y, *x).has_value());
  CHECK_FALSE(proc_utilization(*x, *x).has_value());
  CHECK_FALSE(parse_proc_stat("intr 1\n").has_value());
  CHECK_FALSE(parse_proc_stat("cpu  1 2\n").has_value());
  CHECK_FALSE(parse_proc_stat("cpu  1 2 x 4\n").has_value());

  auto mi = parse_meminfo("MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    4000 kB\n");
  REQUIRE(mi.has_value());
  CHECK(mi->total_kb == 16000);
  CHECK(mi->available_kb == 4000);
  CHECK_FALSE(parse_meminfo("MemTotal: 1 kB\n").has_value());
  CHECK_FALSE(parse_meminfo("MemTotal: 1 kB\nMemAvailable: 2 kB\n").has_value());
}

TEST_CASE("http URLs: IP literals only") {
  auto u = parse_http_url("http://10.2.1.10:8081/load");
  REQUIRE(u.has_value());
  CHECK(u->address.to_string() == "10.2.1.10");
  CHECK(u->port == 8081);
  CHECK(u->target == "/load");
  CHECK(u->host == "10.2.1.10:8081");
  auto v = parse_http_url("http://[::1]/");
  REQUIRE(v.has_value());
  CHECK(v->port == 80);
  auto w = parse_http_url("http://127.0.0.1");
  REQUIRE(w.has_value());
  CHECK(w->target == "/");
  CHECK_FALSE(parse_http_url("https://1.2.3.4/").has_value());
  CHECK_FALSE(parse_http_url("http://example.com/").has_value());
  CHECK_FALSE(parse_http_url("http://1.2.3.4:0/").has_value());
  CHECK_FALSE(parse_http_url("http://1.2.3.4:70000/").has_value());
  CHECK_FALSE(parse_http_url("http://1.2.3.4:/").has_value());
  CHECK_FALSE(parse_http_url("http://1.2.3.4/a b").has_value());
  CHECK_FALSE(parse_http_url("http://[::1/").has_value());
}

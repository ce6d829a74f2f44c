// [sampling_plan] in the vCPE's file (config::check_vcpe): default, explicit, refusals.
#include "config/config.hpp"
#include "source_file.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace cats;

namespace {
std::string example() { return test::source_file("docs/examples/vcpe.toml"); }
}  // namespace

TEST_CASE("vcpe config: sampling_plan.allow defaults to the LAN subnets") {
  auto v = config::parse_vcpe(example(), "vcpe.toml");
  REQUIRE(v.has_value());
  REQUIRE(v->sampling_plan.allow.size() == 1);
  CHECK(v->sampling_plan.allow[0].to_string() == "10.2.1.0/24");
  CHECK(v->sampling_plan.max_instances == 32);
}

TEST_CASE("vcpe config: an explicit allow-list, an empty one, and bad values") {
  auto v = config::parse_vcpe(example() + "\n[sampling_plan]\nallow = [\"10.2.1.10/32\", \"fd00::/64\"]\nmax_instances = 4\n",
                              "vcpe.toml");
  REQUIRE(v.has_value());
  CHECK(v->sampling_plan.allow.size() == 2);
  CHECK(v->sampling_plan.max_instances == 4);
  auto none = config::parse_vcpe(example() + "\n[sampling_plan]\nallow = []\n", "vcpe.toml");
  REQUIRE(none.has_value());
  CHECK(none->sampling_plan.allow.empty());

  auto bad = config::check_vcpe(example() + "\n[sampling_plan]\nallow = [\"10.2.1.10/33\"]\nmax_instances = 33\nx = 1\n",
                                "vcpe.toml");
  REQUIRE_FALSE(bad.config);
  std::vector<std::string> fields;
  for (const auto& p : bad.problems) fields.push_back(p.field);
  CHECK(std::find(fields.begin(), fields.end(), "sampling_plan.allow[0]") != fields.end());
  CHECK(std::find(fields.begin(), fields.end(), "sampling_plan.max_instances") != fields.end());
  CHECK(std::find(fields.begin(), fields.end(), "sampling_plan.x") != fields.end());
}

namespace {
// The example with one more instance whose [[instance.prometheus]] tables are `extra`.
std::string with_prom(const std::string& extra) {
  return example() + "\n[[instance]]\nservice = \"llm\"\nid = \"llm1\"\naddress = \"10.2.1.20:8000\"\n" + extra;
}
std::vector<std::string> problem_fields(const config::VcpeCheck& c) {
  std::vector<std::string> out;
  for (const auto& p : c.problems) out.push_back(p.field + ": " + p.reason);
  return out;
}
bool has(const std::vector<std::string>& v, const std::string& prefix) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& x) { return x.rfind(prefix, 0) == 0; });
}
}  // namespace

TEST_CASE("vcpe config: [[instance.prometheus]] with presets and with explicit rules") {
  auto v = config::parse_vcpe(with_prom(R"(
[[instance.prometheus]]
url = "http://10.2.1.20:8000/metrics"
preset = "vllm"
[[instance.prometheus]]
url = "http://10.2.1.20:9400/metrics"
[[instance.prometheus.map]]
metric = "gpu_utilization"
series = 'DCGM_FI_DEV_GPU_UTIL{gpu!="3"}'
agg = "max"
scale = 0.01
[[instance.prometheus.map]]
metric = "ttft_ms"
fn = "quantile"
quantile = 0.99
series = ['x_seconds{model="a"}', 'y_seconds']
scale = 1000
[[instance.prometheus.map]]
metric = "cpu_utilization"
fn = "rate"
series = 'node_cpu_seconds_total{mode="idle"}'
over = 'node_cpu_seconds_total'
complement = true
)"),
                              "vcpe.toml");
  REQUIRE(v.has_value());
  REQUIRE(v->instances.size() == 2);
  CHECK(v->instances[0].prometheus.empty());
  const auto& p = v->instances[1].prometheus;
  REQUIRE(p.size() == 2);
  CHECK(p[0].preset == "vllm");
  CHECK(p[0].rules == *sampler::prom::preset("vllm"));
  CHECK(p[1].preset.empty());
  REQUIRE(p[1].rules.size() == 3);
  CHECK(p[1].rules[0].target == metrics::MetricType::gpu_utilization);
  CHECK(p[1].rules[0].agg == sampler::prom::Agg::max);
  CHECK(p[1].rules[0].scale == 0.01);
  CHECK(sampler::prom::to_string(p[1].rules[0].series[0]) == "DCGM_FI_DEV_GPU_UTIL{gpu!=\"3\"}");
  CHECK(p[1].rules[1].fn == sampler::prom::Fn::quantile);
  CHECK(p[1].rules[1].quantile == 0.99);
  CHECK(p[1].rules[1].series.size() == 2);
  CHECK(p[1].rules[2].complement);
  CHECK(p[1].rules[2].over.size() == 1);
}

TEST_CASE("vcpe config: [[instance.prometheus]] mistakes are clear errors") {
  struct Case {
    const char* toml;
    const char* field;  // the start of "field: reason"
  };
  for (auto [toml, field] : {
           Case{"[[instance.prometheus]]\npreset = \"vllm\"\n", "instance[1].prometheus[0].url: missing"},
           Case{"[[instance.prometheus]]\nurl = \"http://llm.example:8000/metrics\"\npreset = \"vllm\"\n",
                "instance[1].prometheus[0].url:"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\npreset = \"vlm\"\n",
                "instance[1].prometheus[0].preset: unknown preset \"vlm\"; one of node_exporter, dcgm, vllm, triton"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n",
                "instance[1].prometheus[0].preset: a preset (node_exporter, dcgm, vllm, triton) or at least one"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\npreset = \"vllm\"\n"
                "[[instance.prometheus.map]]\nmetric = \"queue_depth\"\nseries = \"a\"\n",
                "instance[1].prometheus[0].map: give either a preset or [[map]] rules, not both"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"queue_lenght\"\nseries = \"a\"\n",
                "instance[1].prometheus[0].map[0].metric: unknown metric \"queue_lenght\"; one of vcpus,"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"queue_depth\"\nseries = 'a{b=~\"x\"}'\n",
                "instance[1].prometheus[0].map[0].series: \"a{b=~\"x\"}\": regular expression matchers"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"queue_depth\"\n",
                "instance[1].prometheus[0].map[0].series: missing required field"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"queue_depth\"\nseries = \"a\"\nquantile = 0.9\n",
                "instance[1].prometheus[0].map[0].quantile: only with fn = \"quantile\""},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"ttft_ms\"\nfn = \"quantile\"\nquantile = 1\nseries = \"a\"\n",
                "instance[1].prometheus[0].map[0].quantile: must be a number > 0 and < 1"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"ttft_ms\"\nfn = \"quantile\"\nagg = \"max\"\nseries = \"a\"\n",
                "instance[1].prometheus[0].map[0].agg: does not apply to fn = \"quantile\""},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"queue_depth\"\nfn = \"irate\"\nseries = \"a\"\n",
                "instance[1].prometheus[0].map[0].fn: must be value, rate or quantile"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"queue_depth\"\nseries = \"a\"\nscale = 0\n",
                "instance[1].prometheus[0].map[0].scale: must be a number > 0"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\n"
                "[[instance.prometheus.map]]\nmetric = \"queue_depth\"\nseries = [\"a\",\"b\",\"c\",\"d\",\"e\"]\n",
                "instance[1].prometheus[0].map[0].series: must be a series selector or a list of 1..4"},
           Case{"[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\npreset = \"vllm\"\nfoo = 1\n",
                "instance[1].prometheus[0].foo: unknown key"},
       }) {
    INFO(toml);
    auto c = config::check_vcpe(with_prom(toml), "vcpe.toml");
    CHECK_FALSE(c.config);
    auto f = problem_fields(c);
    INFO((f.empty() ? std::string("(no problems)") : f[0]));
    CHECK(has(f, field));
  }
  std::string five;
  for (int i = 0; i < 5; ++i) five += "[[instance.prometheus]]\nurl = \"http://10.2.1.20:8000/metrics\"\npreset = \"vllm\"\n";
  CHECK(has(problem_fields(config::check_vcpe(with_prom(five), "vcpe.toml")),
            "instance[1].prometheus: at most 4 [[instance.prometheus]] per instance"));
}

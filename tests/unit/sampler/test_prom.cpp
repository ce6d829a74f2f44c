// The Prometheus text-format parser (sampler/prom_text.hpp) and the series -> L0 mapping
// (sampler/prom_map.hpp). Golden expositions are copied from the projects' own docs and
// code; each says where from.
#include "api/prometheus.hpp"
#include "sampler/prom_map.hpp"
#include "sampler/prom_text.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>

using namespace cats::sampler::prom;
using cats::metrics::MetricType;
using cats::metrics::Statistic;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// prometheus/docs content/docs/instrumenting/exposition_formats.md, "Text format
// details": the example, verbatim.
const char* kSpecExample = R"(# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP telemetry_requests_metrics_latency_microseconds A summary of the response latency.
# TYPE telemetry_requests_metrics_latency_microseconds summary
telemetry_requests_metrics_latency_microseconds{quantile="0.01"} 3102
telemetry_requests_metrics_latency_microseconds{quantile="0.05"} 3272
telemetry_requests_metrics_latency_microseconds{quantile="0.5"} 4773
telemetry_requests_metrics_latency_microseconds{quantile="0.9"} 9001
telemetry_requests_metrics_latency_microseconds{quantile="0.99"} 76656
telemetry_requests_metrics_latency_microseconds_sum 1.7560473e+07
telemetry_requests_metrics_latency_microseconds_count 2693
)";

const Series* find(const Exposition& e, const std::string& name, const std::string& label = "",
                   const std::string& value = "") {
  for (const auto& s : e.series) {
    if (s.name != name) continue;
    if (label.empty()) return &s;
    if (auto* v = s.label(label); v && *v == value) return &s;
  }
  return nullptr;
}

std::optional<double> value_of(const std::vector<cats::metrics::L0Metric>& ms, MetricType t) {
  for (const auto& m : ms)
    if (m.type == static_cast<uint16_t>(t)) return m.value;
  return std::nullopt;
}

Exposition parsed(const std::string& text) {
  auto e = parse_text(text);
  INFO(text);
  REQUIRE(e.has_value());
  return *e;
}

std::string error_of(const std::string& text, const Limits& lim = {}) {
  auto e = parse_text(text, lim);
  if (e) return "";
  return e.error().message;
}

}  // namespace

TEST_CASE("prom_text: the specification's example") {
  auto e = parsed(kSpecExample);
  CHECK(e.samples == 20);
  CHECK(e.series.size() == 20);
  auto* post = find(e, "http_requests_total", "code", "200");
  REQUIRE(post);
  CHECK(post->value == 1027);
  CHECK(post->timestamp_ms == 1395066363000);
  CHECK(*post->label("method") == "post");

  auto* msdos = find(e, "msdos_file_access_time_seconds");
  REQUIRE(msdos);
  CHECK(*msdos->label("path") == "C:\\DIR\\FILE.TXT");
  CHECK(*msdos->label("error") == "Cannot find file:\n\"FILE.TXT\"");
  CHECK(msdos->value == 1.458255915e9);
  CHECK_FALSE(msdos->timestamp_ms);

  auto* weird = find(e, "something_weird");
  REQUIRE(weird);
  CHECK(weird->value == std::numeric_limits<double>::infinity());
  CHECK(weird->timestamp_ms == -3982045);

  CHECK(find(e, "metric_without_timestamp_and_labels")->value == 12.47);
  CHECK(e.type_of("http_requests_total") == Type::counter);
  CHECK(e.type_of("http_request_duration_seconds_bucket") == Type::histogram);
  CHECK(e.type_of("http_request_duration_seconds_count") == Type::histogram);
  CHECK(e.type_of("telemetry_requests_metrics_latency_microseconds_sum") == Type::summary);
  CHECK(e.type_of("telemetry_requests_metrics_latency_microseconds_bucket") == Type::untyped);
  CHECK(e.type_of("metric_without_timestamp_and_labels") == Type::untyped);
  CHECK(*find(e, "http_request_duration_seconds_bucket", "le", "+Inf")->label("le") == "+Inf");
  CHECK(find(e, "telemetry_requests_metrics_latency_microseconds", "quantile", "0.99")->value == 76656);
}

TEST_CASE("prom_text: CRLF, blanks, tabs, trailing comma, NaN, no final newline") {
  auto e = parsed("# a plain comment\r\n\r\n   \t\r\n  a{x=\"1\",} NaN\r\n\tb { y = \"2\" , z=\"\" }\t-Inf  42 \r\n"
                  "c 1e-3\r\nd +5\nE_:f 1.\ng .5");
  REQUIRE(e.series.size() == 6);
  CHECK(std::isnan(e.series[0].value));
  CHECK(*e.series[0].label("x") == "1");
  CHECK(e.series[1].value == -std::numeric_limits<double>::infinity());
  CHECK(e.series[1].timestamp_ms == 42);
  CHECK(*e.series[1].label("z") == "");
  CHECK(e.series[2].value == 0.001);
  CHECK(e.series[3].value == 5);
  CHECK(e.series[4].name == "E_:f");
  CHECK(e.series[5].value == 0.5);
  // "# HELP" / "# TYPE" with nothing after them are not errors (expfmt neither).
  CHECK(parse_text("# HELP\n# TYPE x\n# HELP y\nx 1\n").has_value());
  CHECK(parse_text("# HELP x a \\\\ b \\n c \\\" d\nx 1\n").has_value());
}

TEST_CASE("prom_text: malformed lines are errors that name the line") {
  struct Case {
    const char* text;
    const char* says;
  };
  for (auto [text, says] : {
           Case{"a{b=\"\\t\"} 1\n", "invalid escape"},
           Case{"a{b=\"x} 1\n", "unterminated label value"},
           Case{"a{b=\"x\",b=\"y\"} 1\n", "duplicate label name"},
           Case{"a{__name__=\"x\"} 1\n", "reserved"},
           Case{"a{b=x} 1\n", "expected '\"'"},
           Case{"a{b\"x\"} 1\n", "expected '='"},
           Case{"a{b=\"x\" c=\"y\"} 1\n", "expected ',' or '}'"},
           Case{"a{1=\"x\"} 1\n", "invalid label name"},
           Case{"# TYPE a counter\n# TYPE a gauge\na 1\n", "second TYPE"},
           Case{"a 1\n# TYPE a counter\n", "after its samples"},
           Case{"# TYPE a countr\n", "unknown metric type"},
           Case{"# HELP a x\n# HELP a y\n", "second HELP"},
           Case{"# HELP a bad \\t escape\n", "invalid escape sequence in HELP"},
           Case{"a 1_000\n", "expected a float"},
           Case{"a 0x10\n", "expected a float"},
           Case{"a 1e999\n", "expected a float"},
           Case{"a --1\n", "expected a float"},
           Case{"a\n", "missing value"},
           Case{"a 1 1.5\n", "integer timestamp"},
           Case{"a 1 2 3\n", "spurious text"},
           Case{"1a 1\n", "invalid metric name"},
           Case{"a-b 1\n", "invalid metric name"},
           Case{"{\"a\"} 1\n", "quoted metric names"},
           Case{"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", "\"le\""},
           Case{"# TYPE h histogram\nh_bucket 1\n", "without an \"le\""},
           Case{"# TYPE s summary\ns{quantile=\"q\"} 1\n", "\"quantile\""},
           Case{"a{b=\"\xff\"} 1\n", "not UTF-8"},
           Case{"a{b=\"\xed\xa0\x80\"} 1\n", "not UTF-8"},  // a surrogate
       }) {
    INFO(text);
    auto msg = error_of(text);
    CHECK(msg.find(says) != std::string::npos);
    CHECK(msg.rfind("line ", 0) == 0);
  }
  CHECK(error_of("a 1\n\nb 2\nc\n") == "line 4: missing value for c");
}

TEST_CASE("prom_text: every size is bounded") {
  Limits lim;
  lim.max_body = 100;
  CHECK(error_of(std::string(101, '\n'), lim).find("larger than 100 bytes") != std::string::npos);
  lim = {};
  lim.max_line = 20;
  CHECK(error_of("a 1\n" + std::string("b{c=\"") + std::string(20, 'x') + "\"} 1\n", lim) ==
        "line 2: longer than 20 bytes");
  lim = {};
  lim.max_series = 3;
  CHECK(parse_text("a 1\nb 1\nc 1\n", lim).has_value());
  CHECK(error_of("a 1\nb 1\nc 1\nd 1\n", lim) == "line 4: more than 3 samples");
  lim = {};
  lim.max_labels = 2;
  CHECK(error_of("a{x=\"1\",y=\"2\",z=\"3\"} 1\n", lim).find("more than 2 labels") != std::string::npos);
  lim = {};
  lim.max_name = 4;
  CHECK(error_of("abcde 1\n", lim).find("metric name longer than 4") != std::string::npos);
  CHECK(error_of("a{abcde=\"x\"} 1\n", lim).find("label name longer than 4") != std::string::npos);
  CHECK(error_of("# TYPE abcde gauge\n", lim).find("longer than 4") != std::string::npos);
  lim = {};
  lim.max_label_value = 3;
  CHECK(error_of("a{b=\"abc\"} 1\n", lim).empty());
  CHECK(error_of("a{b=\"abcd\"} 1\n", lim).find("label value longer than 3") != std::string::npos);
  lim = {};
  lim.max_families = 2;
  CHECK(error_of("# TYPE a gauge\n# TYPE b gauge\n# TYPE c gauge\n", lim).find("more than 2 metric families") !=
        std::string::npos);
}

TEST_CASE("prom_text: keep stores only the named samples but checks and counts all") {
  auto e = parse_text(kSpecExample, {}, [](std::string_view n) { return n == "http_requests_total"; });
  REQUIRE(e.has_value());
  CHECK(e->series.size() == 2);
  CHECK(e->samples == 20);
  CHECK_FALSE(parse_text("a 1\nb 1 x\n", {}, [](std::string_view n) { return n == "a"; }).has_value());
}

TEST_CASE("prom_text: parse_float reads what Go's ParseFloat reads, minus hex and '_'") {
  CHECK(parse_float("1.5") == 1.5);
  CHECK(parse_float("-2e-3") == -0.002);
  CHECK(parse_float("+7") == 7);
  CHECK(parse_float("1E3") == 1000);
  CHECK(parse_float("Inf") == std::numeric_limits<double>::infinity());
  CHECK(parse_float("+inf") == std::numeric_limits<double>::infinity());
  CHECK(parse_float("-Infinity") == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(*parse_float("NaN")));
  CHECK(std::isnan(*parse_float("nan")));
  for (const char* bad : {"", "+", "-", "1_0", "0x1p3", "1p3", "--1", "+-1", "1.2.3", "1e", "e1", " 1", "1 ", "Infx"})
    CHECK_FALSE(parse_float(bad));
}

TEST_CASE("prom_map: selectors") {
  auto s = parse_selector(R"(node_cpu_seconds_total{mode!="idle", cpu="0",x="a\"b\\c"})");
  REQUIRE(s.has_value());
  CHECK(s->name == "node_cpu_seconds_total");
  REQUIRE(s->matchers.size() == 3);
  CHECK_FALSE(s->matchers[0].equal);
  CHECK(s->matchers[2].value == "a\"b\\c");
  CHECK(to_string(*s) == R"(node_cpu_seconds_total{mode!="idle",cpu="0",x="a\"b\\c"})");
  CHECK(parse_selector(to_string(*s)).value() == *s);
  CHECK(parse_selector("vllm:num_requests_waiting").value().matchers.empty());
  for (const char* bad : {"", "1a", "a{b=~\"x\"}", "a{b=\"x\"", "a{b=\"x}", "a{b}", "a{b=\"x\" c=\"y\"}", "a b",
                          "a{b=\"\\t\"}"})
    CHECK_FALSE(parse_selector(bad).has_value());

  Series x{"m", {{"mode", "user"}}, 1, {}};
  CHECK(parse_selector("m{mode!=\"idle\"}")->matches(x));
  CHECK_FALSE(parse_selector("m{mode=\"idle\"}")->matches(x));
  CHECK(parse_selector("m{gpu=\"\"}")->matches(x));  // PromQL: an absent label is ""
  CHECK_FALSE(parse_selector("n")->matches(x));
}

TEST_CASE("prom_map: histogram_quantile as PromQL computes it") {
  // The specification example's histogram (above).
  std::vector<std::pair<double, double>> b{{0.05, 24054}, {0.1, 33444},  {0.2, 100392},
                                           {0.5, 129389}, {1, 133988},   {INFINITY, 144320}};
  // rank 72160 falls in (0.1, 0.2]: 0.1 + 0.1 * (72160 - 33444) / (100392 - 33444)
  CHECK(histogram_quantile(0.5, b).value() == Approx(0.1 + 0.1 * (72160.0 - 33444) / (100392 - 33444)));
  // the first bucket interpolates from 0
  CHECK(histogram_quantile(0.1, b).value() == Approx(0.05 * 14432.0 / 24054));
  // beyond the last finite bound: that bound
  CHECK(histogram_quantile(0.99, b).value() == 1.0);
  // order does not matter; non-monotonic counts are made monotonic
  std::vector<std::pair<double, double>> shuffled{{INFINITY, 10}, {1, 10}, {0.5, 4}, {0.25, 5}};
  CHECK(histogram_quantile(0.5, shuffled).value() == Approx(0.25));
  CHECK_FALSE(histogram_quantile(0.5, {{1, 3}, {2, 4}}));            // no +Inf bucket
  CHECK_FALSE(histogram_quantile(0.5, {{1, 0}, {INFINITY, 0}}));     // no observations
  CHECK_FALSE(histogram_quantile(1.5, b));
}

TEST_CASE("prom_map: node_exporter preset over two scrapes") {
  // prometheus/node_exporter collector/fixtures/e2e-output.txt (a7dcc3a), the cpu 0 and 1
  // lines and node_memory_MemTotal_bytes verbatim. The fixture's meminfo has no
  // MemAvailable; that line is added in the form collector/meminfo_linux.go gives it.
  std::string first = R"(# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 10870.69
node_cpu_seconds_total{cpu="0",mode="iowait"} 2.2
node_cpu_seconds_total{cpu="0",mode="irq"} 0.01
node_cpu_seconds_total{cpu="0",mode="nice"} 0.19
node_cpu_seconds_total{cpu="0",mode="softirq"} 34.1
node_cpu_seconds_total{cpu="0",mode="steal"} 0
node_cpu_seconds_total{cpu="0",mode="system"} 210.45
node_cpu_seconds_total{cpu="0",mode="user"} 444.9
node_cpu_seconds_total{cpu="1",mode="idle"} 11107.87
node_cpu_seconds_total{cpu="1",mode="iowait"} 5.91
node_cpu_seconds_total{cpu="1",mode="irq"} 0
node_cpu_seconds_total{cpu="1",mode="nice"} 0.23
node_cpu_seconds_total{cpu="1",mode="softirq"} 0.46
node_cpu_seconds_total{cpu="1",mode="steal"} 0
node_cpu_seconds_total{cpu="1",mode="system"} 164.74
node_cpu_seconds_total{cpu="1",mode="user"} 478.69
# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 3.831959552e+09
node_memory_MemAvailable_bytes 1.915979776e+09
)";
  // Two seconds later: cpu0 +0.5 s idle, +1.5 s user; cpu1 +1.0 s idle, +1.0 s system.
  std::string second = first;
  auto bump = [&](const std::string& from, const std::string& to) { second.replace(second.find(from), from.size(), to); };
  bump("\"idle\"} 10870.69", "\"idle\"} 10871.19");
  bump("\"user\"} 444.9", "\"user\"} 446.4");
  bump("\"idle\"} 11107.87", "\"idle\"} 11108.87");
  bump("\"system\"} 164.74", "\"system\"} 165.74");

  Mapper m(*preset("node_exporter"));
  auto t0 = Clock::time_point{} + 100s;
  auto a = m.apply(parsed(first), t0);
  REQUIRE(a.has_value());
  CHECK(value_of(*a, MetricType::vcpus) == 2);
  CHECK(value_of(*a, MetricType::memory_utilization).value() == Approx(0.5));
  CHECK_FALSE(value_of(*a, MetricType::cpu_utilization));  // a rate needs two scrapes

  auto b = m.apply(parsed(second), t0 + 2s);
  REQUIRE(b.has_value());
  // idle 1.5 s of 4 CPU-seconds: 62.5 % busy
  CHECK(value_of(*b, MetricType::cpu_utilization).value() == Approx(0.625));
  for (const auto& x : *b)
    if (x.type == static_cast<uint16_t>(MetricType::cpu_utilization)) CHECK(x.statistic == Statistic::mean);
}

TEST_CASE("prom_map: DCGM exporter preset") {
  // NVIDIA/dcgm-exporter README.md "Quickstart": the lines as shown (note the blank after
  // the comma inside the braces). The GPU_UTIL / FB lines, absent from that excerpt, are
  // written the same way with the names etc/default-counters.csv defines.
  std::string text = R"(# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
# HELP DCGM_FI_DEV_MEM_CLOCK Memory clock frequency (in MHz).
# TYPE DCGM_FI_DEV_MEM_CLOCK gauge
# HELP DCGM_FI_DEV_MEMORY_TEMP Memory temperature (in C).
# TYPE DCGM_FI_DEV_MEMORY_TEMP gauge
DCGM_FI_DEV_SM_CLOCK{gpu="0", UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52"} 139
DCGM_FI_DEV_MEM_CLOCK{gpu="0", UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52"} 405
DCGM_FI_DEV_MEMORY_TEMP{gpu="0", UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52"} 9223372036854775794
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0", UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52"} 90
DCGM_FI_DEV_GPU_UTIL{gpu="1", UUID="GPU-2"} 30
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0", UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52"} 10000
DCGM_FI_DEV_FB_FREE{gpu="1", UUID="GPU-2"} 30000
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0", UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52"} 30000
DCGM_FI_DEV_FB_USED{gpu="1", UUID="GPU-2"} 10000
)";
  auto e = parsed(text);
  CHECK(find(e, "DCGM_FI_DEV_MEMORY_TEMP")->value == 9223372036854775794.0);
  Mapper m(*preset("dcgm"));
  auto r = m.apply(e, Clock::now());
  REQUIRE(r.has_value());
  CHECK(value_of(*r, MetricType::gpu_utilization).value() == Approx(0.6));
  CHECK(value_of(*r, MetricType::gpu_count) == 2);
  CHECK(value_of(*r, MetricType::gpu_memory_utilization).value() == Approx(0.5));
}

TEST_CASE("prom_map: vLLM preset, TTFT from the histogram's buckets between scrapes") {
  // vllm-project/vllm docs/design/metrics.md "Example output" (the lines it shows; it
  // elides the rest with "...", among them the +Inf bucket and _sum, added here), plus
  // the waiting/KV-cache gauges vllm/engine/metrics.py defines (V1 names the cache gauge
  // vllm:kv_cache_usage_perc, docs/design/metrics.md; the preset reads both).
  std::string first = R"(# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="meta-llama/Llama-3.1-8B-Instruct"} 8.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.75
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 27453.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{le="0.005",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{le="0.01",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{le="0.02",model_name="meta-llama/Llama-3.1-8B-Instruct"} 13.0
vllm:time_to_first_token_seconds_bucket{le="0.04",model_name="meta-llama/Llama-3.1-8B-Instruct"} 97.0
vllm:time_to_first_token_seconds_bucket{le="0.06",model_name="meta-llama/Llama-3.1-8B-Instruct"} 123.0
vllm:time_to_first_token_seconds_bucket{le="0.08",model_name="meta-llama/Llama-3.1-8B-Instruct"} 138.0
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 140.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 140.0
vllm:time_to_first_token_seconds_count{model_name="meta-llama/Llama-3.1-8B-Instruct"} 140.0
vllm:time_to_first_token_seconds_sum{model_name="meta-llama/Llama-3.1-8B-Instruct"} 5.6
)";
  // One second later 10 more first tokens, all in (0.06, 0.08], 0.7 s in all.
  std::string second = first;
  for (const char* le : {"0.08", "0.1", "+Inf"}) {
    std::string from = std::string("le=\"") + le + "\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} ";
    auto at = second.find(from) + from.size();
    auto end = second.find('\n', at);
    double v = std::stod(second.substr(at, end - at)) + 10;
    second.replace(at, end - at, std::to_string(v));
  }
  second.replace(second.find("_count{model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 140.0"),
                 std::string("_count{model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 140.0").size(),
                 "_count{model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 150.0");
  second.replace(second.find("} 5.6"), 5, "} 6.3");

  Mapper m(*preset("vllm"));
  auto t0 = Clock::time_point{} + 10s;
  auto a = m.apply(parsed(first), t0);
  REQUIRE(a.has_value());
  CHECK(value_of(*a, MetricType::active_sessions) == 8);
  CHECK(value_of(*a, MetricType::queue_depth) == 3);
  CHECK(value_of(*a, MetricType::capacity_free).value() == Approx(0.25));
  CHECK_FALSE(value_of(*a, MetricType::ttft_ms));  // needs the next scrape

  auto b = m.apply(parsed(second), t0 + 1s);
  REQUIRE(b.has_value());
  // p90 of the 10 new observations, all in (0.06, 0.08]: 0.06 + 0.02 * 9/10 s
  CHECK(value_of(*b, MetricType::ttft_ms).value() == Approx(78.0));
  // mean of the interval: 0.7 s / 10
  CHECK(value_of(*b, MetricType::processing_delay_ms).value() == Approx(70.0));

  // An idle interval (nothing new): no TTFT figure rather than a stale or zero one.
  auto c = m.apply(parsed(second), t0 + 2s);
  REQUIRE(c.has_value());
  CHECK_FALSE(value_of(*c, MetricType::ttft_ms));
  CHECK_FALSE(value_of(*c, MetricType::processing_delay_ms));
  CHECK(value_of(*c, MetricType::queue_depth) == 3);
}

TEST_CASE("prom_map: Triton preset; a counter reset counts from zero") {
  // triton-inference-server/server docs/user_guide/metrics.md: the counter lines it
  // shows ("nv_inference_request_success{...} 161", "nv_inference_queue_duration_us{...}
  // 11110"); the request duration and GPU gauges use the names of its tables.
  auto scrape = [](double success, double queue_us, double request_us) {
    return "# HELP nv_inference_request_success Number of successful inference requests\n"
           "# TYPE nv_inference_request_success counter\n"
           "nv_inference_request_success{model=\"my_model\",version=\"1\"} " + std::to_string(success) + "\n"
           "nv_inference_queue_duration_us{model=\"my_model\",version=\"1\"} " + std::to_string(queue_us) + "\n"
           "nv_inference_request_duration_us{model=\"my_model\",version=\"1\"} " + std::to_string(request_us) + "\n"
           "nv_gpu_utilization{gpu_uuid=\"GPU-1\"} 0.5\nnv_gpu_utilization{gpu_uuid=\"GPU-2\"} 0.7\n"
           "nv_gpu_memory_total_bytes{gpu_uuid=\"GPU-1\"} 1000\nnv_gpu_memory_used_bytes{gpu_uuid=\"GPU-1\"} 250\n";
  };
  Mapper m(*preset("triton"));
  auto t0 = Clock::time_point{} + 1s;
  auto a = m.apply(parsed(scrape(161, 11110, 161000)), t0);
  REQUIRE(a.has_value());
  CHECK(value_of(*a, MetricType::gpu_utilization).value() == Approx(0.6));
  CHECK(value_of(*a, MetricType::gpu_count) == 2);
  CHECK(value_of(*a, MetricType::gpu_memory_utilization).value() == Approx(0.25));
  CHECK_FALSE(value_of(*a, MetricType::processing_delay_ms));

  // +40 requests of 2 ms each over 2 s, 0.8 s of queueing in all.
  auto b = m.apply(parsed(scrape(201, 811110, 241000)), t0 + 2s);
  REQUIRE(b.has_value());
  CHECK(value_of(*b, MetricType::processing_delay_ms).value() == Approx(2.0));
  CHECK(value_of(*b, MetricType::queue_depth).value() == Approx(0.4));  // 0.8 s queued per 2 s

  // Triton restarted: every counter is below its last value, so its increase is its value.
  auto c = m.apply(parsed(scrape(10, 20000, 50000)), t0 + 4s);
  REQUIRE(c.has_value());
  CHECK(value_of(*c, MetricType::processing_delay_ms).value() == Approx(5.0));
  CHECK(value_of(*c, MetricType::queue_depth).value() == Approx(0.01));
}

TEST_CASE("prom_map: the wrong server is an error, a missing series only a missing metric") {
  Mapper m(*preset("vllm"));
  auto r = m.apply(parsed("node_load1 0.5\n"), Clock::now());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("none of the mapped series") != std::string::npos);
  CHECK(r.error().message.find("vllm:num_requests_waiting") != std::string::npos);

  auto partial = m.apply(parsed("vllm:num_requests_waiting 2\n"), Clock::now());
  REQUIRE(partial.has_value());
  REQUIRE(partial->size() == 1);
  CHECK(value_of(*partial, MetricType::queue_depth) == 2);

  // Out of the type's range (a utilisation of 7): dropped, not clamped into a lie.
  Mapper d(*preset("dcgm"));
  auto bad = d.apply(parsed("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"} 700\n"), Clock::now());
  REQUIRE(bad.has_value());
  CHECK_FALSE(value_of(*bad, MetricType::gpu_utilization));
  CHECK(value_of(*bad, MetricType::gpu_count) == 1);
}

TEST_CASE("prom_map: every preset's names are what sample_names keeps") {
  for (auto name : preset_names()) {
    auto rules = preset(name);
    REQUIRE(rules);
    CHECK_FALSE(rules->empty());
    CHECK(rules->size() <= kMaxRules);
    for (const auto& n : sample_names(*rules)) CHECK(is_metric_name(n));
  }
  CHECK_FALSE(preset("prometheus"));
  auto v = sample_names(*preset("vllm"));
  CHECK(std::find(v.begin(), v.end(), "vllm:time_to_first_token_seconds_bucket") != v.end());
}

TEST_CASE("prom_text reads back what the daemons' own /metrics writer writes (api/prometheus.hpp)") {
  // Two implementations of one format, each checked against the other: every family
  // type, escapes in help and label values, NaN/±Inf, and a histogram the vllm preset maps.
  namespace ap = cats::api::prom;
  ap::Histogram ttft(ap::duration_buckets());
  auto render = [&](double waiting) {
    ap::Exposition x;
    x.gauge("vllm:num_requests_waiting", "Waiting \\ requests,\nqueued.", {{"model_name", "a\"b\\c\nd"}}, waiting);
    x.counter("cats_reports_received_total", "Reports.", {{"vcpe", "v1"}, {"verdict", "ok"}}, 42);
    x.gauge("odd", "Odd values.", {{"k", "nan"}}, std::numeric_limits<double>::quiet_NaN());
    x.gauge("odd", "Odd values.", {{"k", "inf"}}, -std::numeric_limits<double>::infinity());
    x.family("vllm:time_to_first_token_seconds", ap::Type::histogram, "TTFT.");
    x.histogram("vllm:time_to_first_token_seconds", {{"model_name", "a\"b\\c\nd"}}, ttft.value());
    return x.render();
  };
  ttft.observe(0.0004);
  auto e = parsed(render(2));
  CHECK(e.type_of("vllm:num_requests_waiting") == Type::gauge);
  CHECK(e.type_of("cats_reports_received_total") == Type::counter);
  CHECK(e.type_of("vllm:time_to_first_token_seconds_bucket") == Type::histogram);
  auto* w = find(e, "vllm:num_requests_waiting");
  REQUIRE(w);
  CHECK(*w->label("model_name") == "a\"b\\c\nd");
  CHECK(w->value == 2);
  CHECK(find(e, "cats_reports_received_total", "verdict", "ok")->value == 42);
  CHECK(std::isnan(find(e, "odd", "k", "nan")->value));
  CHECK(find(e, "odd", "k", "inf")->value == -std::numeric_limits<double>::infinity());
  CHECK(find(e, "vllm:time_to_first_token_seconds_bucket", "le", "+Inf")->value == 1);
  CHECK(find(e, "vllm:time_to_first_token_seconds_count")->value == 1);

  Mapper m(*preset("vllm"));
  auto t0 = Clock::time_point{} + 5s;
  REQUIRE(m.apply(e, t0).has_value());
  for (int i = 0; i < 9; ++i) ttft.observe(0.015);  // in (0.01, 0.025] of duration_buckets()
  ttft.observe(30);                                  // past the last bound: +Inf only
  auto r = m.apply(parsed(render(0)), t0 + 1s);
  REQUIRE(r.has_value());
  CHECK(value_of(*r, MetricType::queue_depth) == 0);
  // p90 of the 10 new ones: rank 9 is the last in the bucket ending at the 9th: its bound
  auto b = ap::duration_buckets();
  auto hi = *std::upper_bound(b.begin(), b.end(), 0.015);
  CHECK(value_of(*r, MetricType::ttft_ms).value() == Approx(hi * 1000));
  CHECK(value_of(*r, MetricType::processing_delay_ms).value() == Approx((9 * 0.015 + 30) / 10 * 1000));
}

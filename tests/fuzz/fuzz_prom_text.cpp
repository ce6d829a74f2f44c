// The Prometheus text-format parser (sampler/prom_text.hpp), the selector parser and the
// mapping (sampler/prom_map.hpp) on arbitrary bytes. Besides not crashing: what the parser
// keeps respects its limits and the format's lexical rules, a selector prints back to
// itself, and the mapping only ever gives metrics a receiver accepts (metrics::is_valid),
// whatever two successive scrapes contain.
#include "sampler/prom_map.hpp"
#include "sampler/prom_text.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cats::sampler::prom;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  Limits lim;
  lim.max_series = 64;
  lim.max_labels = 8;
  lim.max_line = 1024;
  lim.max_name = 64;
  lim.max_label_value = 128;
  auto e = parse_text(in, lim);
  if (e) {
    check(e->series.size() == e->samples && e->samples <= lim.max_series);
    for (const auto& s : e->series) {
      check(is_metric_name(s.name) && s.name.size() <= lim.max_name);
      check(s.labels.size() <= lim.max_labels);
      for (const auto& l : s.labels) {
        check(is_label_name(l.name) && l.name != "__name__" && l.name.size() <= lim.max_name);
        check(l.value.size() <= lim.max_label_value && is_utf8(l.value));
      }
    }
    // Two scrapes of the same text, then one of an empty exposition: every preset.
    for (auto name : preset_names()) {
      Mapper m(*preset(name));
      auto t = std::chrono::steady_clock::time_point{} + std::chrono::seconds(1);
      for (int i = 0; i < 2; ++i) {
        if (auto r = m.apply(*e, t + std::chrono::seconds(i))) {
          for (const auto& x : *r) check(cats::metrics::is_valid(x));
        }
      }
    }
  }

  if (size <= 512) {
    if (auto s = parse_selector(in)) {
      auto again = parse_selector(to_string(*s));
      check(again.has_value() && *again == *s);
    }
  }
  (void)parse_float(in.substr(0, 80));
  return 0;
}

// libFuzzer target: arbitrary bytes as database text (label values, help
// text, setting names) through FamilyBuilder/Aggregate and the text writer.
// The oracle is a strict parser of the exposition lines pgwarden emits:
// every line must be HELP, TYPE or one well-formed sample; label values
// must be valid UTF-8 with only \\, \" and \n escapes; no series twice.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/metrics.h"
#include "exporter/text.h"

namespace {

using pgwarden::Families;

[[noreturn]] void Fail() { __builtin_trap(); }

// Independent of the code under test: a plain UTF-8 decoder (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':' || (!first && c >= '0' && c <= '9');
}

// Checks one sample line; returns its series key (name + labels).
std::string CheckSample(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
  if (i == 0) Fail();
  std::string key(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      const size_t start = i;
      while (i < line.size() && IsNameChar(line[i], i == start)) ++i;
      if (i == start || i + 1 >= line.size() || line[i] != '=' ||
          line[i + 1] != '"')
        Fail();
      i += 2;
      std::string value;
      while (true) {
        if (i >= line.size()) Fail();
        const char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= line.size()) Fail();
          const char e = line[i++];
          if (e != '\\' && e != '"' && e != 'n') Fail();
          value += e == 'n' ? '\n' : e;
        } else {
          value += c;
        }
      }
      if (!ValidUtf8(value) || value.size() > pgwarden::kMaxLabelValueBytes)
        Fail();
      if (i >= line.size()) Fail();
      if (line[i] == ',') {
        ++i;
        continue;
      }
      if (line[i] != '}') Fail();
      ++i;
      break;
    }
    key += std::string(line.substr(key.size(), i - key.size()));
  }
  if (i >= line.size() || line[i] != ' ') Fail();
  const std::string_view number = line.substr(i + 1);
  if (number.empty() || number.find(' ') != std::string_view::npos) Fail();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Split the input at 0xFF 0x00 into pieces of database text.
  std::vector<std::string> pieces(1);
  for (size_t i = 0; i < size; ++i) {
    if (i + 1 < size && data[i] == 0xFF && data[i + 1] == 0x00) {
      pieces.emplace_back();
      ++i;
    } else {
      pieces.back() += static_cast<char>(data[i]);
    }
  }
  Families families;
  pgwarden::FamilyBuilder direct("fuzz_direct", pieces[0],
                                 prometheus::MetricType::Gauge);
  pgwarden::Aggregate aggregate(pgwarden::Aggregate::Mode::kSum);
  for (size_t i = 0; i < pieces.size(); ++i) {
    direct.Add({{"a", pieces[i]}, {"b", pieces[(i + 1) % pieces.size()]}},
               static_cast<double>(i));
    aggregate.Put({pieces[i], pieces[0]}, 1);
  }
  direct.MoveTo(families);
  pgwarden::FamilyBuilder agg("fuzz_aggregate_total", "help",
                              prometheus::MetricType::Counter);
  aggregate.EmitTo(agg, {"x", "y"});
  agg.MoveTo(families);
  pgwarden::FamilyBuilder(
      "pg_settings_" + pgwarden::SanitizeNameFragment(pieces.back()),
      pieces.back(), prometheus::MetricType::Gauge)
      .Add(1)
      .MoveTo(families);

  const std::string text = pgwarden::Serialize(families);
  std::set<std::string> series;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) Fail();  // every line ends in \n
    const std::string_view line(text.data() + start, end - start);
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      if (!ValidUtf8(line)) Fail();
    } else if (!series.insert(CheckSample(line)).second) {
      Fail();  // the same series twice
    }
    start = end + 1;
  }
  return 0;
}

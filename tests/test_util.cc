#include "tests/test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace pgwarden::testing {

std::unique_ptr<Collector> NewCollector(const std::string& name,
                                        const CollectorOptions& options) {
  auto created = CreateCollectors({name}, options);
  EXPECT_EQ(created.size(), 1u) << "no collector " << name;
  return created.empty() ? nullptr : std::move(created[0]);
}

Rows MakeRows(std::vector<std::string> columns,
              std::vector<std::vector<std::string>> cells) {
  Rows rows(std::move(columns));
  for (auto& r : cells) {
    Rows::Row row;
    for (auto& c : r) {
      if (c == "\\N") {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::move(c));
      }
    }
    rows.Add(std::move(row));
  }
  return rows;
}

const prometheus::MetricFamily* FindFamily(const Families& families,
                                           const std::string& name) {
  const prometheus::MetricFamily* found = nullptr;
  for (const auto& f : families) {
    if (f.name == name) {
      EXPECT_EQ(found, nullptr) << "family " << name << " appears twice";
      found = &f;
    }
  }
  return found;
}

namespace {

bool Matches(const prometheus::ClientMetric& m,
             const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : labels) {
    bool ok = false;
    for (const auto& l : m.label) ok = ok || (l.name == k && l.value == v);
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::optional<double> Sample(const Families& families, const std::string& name,
                             const std::map<std::string, std::string>& labels) {
  const auto* f = FindFamily(families, name);
  if (!f) return std::nullopt;
  std::optional<double> out;
  for (const auto& m : f->metric) {
    if (!Matches(m, labels)) continue;
    EXPECT_FALSE(out.has_value())
        << "more than one sample of " << name << " matches";
    out = SampleValue(f->type, m);
  }
  return out;
}

std::optional<double> CollectorSuccess(const Families& families,
                                       const std::string& collector) {
  return Sample(families, "pg_scrape_collector_success",
                {{"collector", collector}});
}

size_t SampleCount(const Families& families, const std::string& name) {
  const auto* f = FindFamily(families, name);
  return f ? f->metric.size() : 0;
}

double SumSamples(const Families& families, const std::string& name,
                  const std::map<std::string, std::string>& labels) {
  const auto* f = FindFamily(families, name);
  double sum = 0;
  if (!f) return 0;
  for (const auto& m : f->metric) {
    if (Matches(m, labels)) sum += SampleValue(f->type, m);
  }
  return sum;
}

size_t CountSamples(const Families& families, const std::string& name,
                    const std::map<std::string, std::string>& labels) {
  const auto* f = FindFamily(families, name);
  size_t n = 0;
  if (!f) return 0;
  for (const auto& m : f->metric) n += Matches(m, labels) ? 1 : 0;
  return n;
}

std::string Gunzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[4096];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&zs);
  EXPECT_EQ(rc, Z_STREAM_END);
  return out;
}

int PromtoolCheck(const std::string& text, std::string* output) {
  if (system("command -v promtool >/dev/null 2>&1") != 0) return -1;
  char in_path[] = "/tmp/pgwarden-promtool-in-XXXXXX";
  const int fd = mkstemp(in_path);
  if (fd < 0) return -1;
  {
    std::ofstream in(in_path);
    in << text;
  }
  close(fd);
  const std::string out_path = std::string(in_path) + ".out";
  const std::string cmd = std::string("promtool check metrics < ") + in_path +
                          " > " + out_path + " 2>&1";
  const int status = system(cmd.c_str());
  std::ifstream out(out_path);
  output->assign(std::istreambuf_iterator<char>(out),
                 std::istreambuf_iterator<char>());
  std::remove(in_path);
  std::remove(out_path.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace pgwarden::testing

#include "exporter/text.h"

namespace pgwarden::testing {

std::vector<std::string> HostileStrings() {
  return {
      "quote\"s",
      "back\\slash",
      "new\nline",
      "} 1\nfake_metric 1",
      "\"} 1\nfake_metric{a=\"b\"} 1\n#",
      "bad utf8 \xC3\x28 \xFF\xFE end",
      std::string(10 * 1024, 'x'),
      "tab\there",
      "",
  };
}

::testing::AssertionResult ValidExposition(const Families& families,
                                           bool allow_lint) {
  const std::string text = Serialize(families);
  size_t pos = 0;
  while (pos < text.size()) {
    if (text.compare(pos, 11, "fake_metric") == 0) {
      return ::testing::AssertionFailure()
             << "injected series at offset " << pos;
    }
    pos = text.find('\n', pos);
    if (pos == std::string::npos) break;
    ++pos;
  }
  std::string output;
  const int rc = PromtoolCheck(text, &output);
  if (rc != 0 && !(allow_lint && rc == 3)) {
    return ::testing::AssertionFailure()
           << "promtool check metrics exit " << rc << ": " << output;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace pgwarden::testing

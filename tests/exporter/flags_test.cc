#include "exporter/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "exporter/compat_flags.h"

namespace pgwarden::testing {
namespace {

using ::testing::HasSubstr;

TEST(FlagsTest, EveryFlagDefinedHereIsListed) {
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  std::vector<std::string> defined_here;
  for (const auto& f : all) {
    if (f.filename.find("exporter/flags.cc") != std::string::npos) {
      defined_here.push_back(f.name);
    }
  }
  std::vector<std::string> listed = FlagNames();
  std::sort(listed.begin(), listed.end());
  std::sort(defined_here.begin(), defined_here.end());
  EXPECT_EQ(listed, defined_here);
  EXPECT_GE(listed.size(), 20u);
}

TEST(HelpTextTest, ListsEveryFlagAndCollector) {
  const std::string help = HelpText();
  for (const std::string& flag : FlagNames()) {
    // Once, with postgres_exporter's spelling beside it where there is one.
    const std::string theirs = PostgresExporterSpelling(flag);
    EXPECT_THAT(help, HasSubstr("  --" + flag +
                                (theirs.empty() ? "" : ", --" + theirs) + " ("))
        << flag;
  }
  EXPECT_THAT(help,
              HasSubstr("  --web_listen_address, --web.listen-address ("));
  for (const auto& r : RegisteredCollectors()) {
    EXPECT_THAT(help, HasSubstr("  " + r.name +
                                (r.defaults.enabled ? " [default]\n" : "\n")))
        << r.name;
  }
  EXPECT_THAT(help, HasSubstr("(queried at most every 300 s)"));
}

}  // namespace
}  // namespace pgwarden::testing

// Integration: postgres_exporter's default families, names, types and
// labels, on this server's major.

#include <fstream>
#include <set>
#include <sstream>

#include "exporter/text.h"
#include "tests/integration/fixture.h"

namespace pgwarden::testing {
namespace {

// One line of tests/compat/postgres_exporter_families.txt.
struct CompatFamily {
  std::string name, pe_type, type;
  std::set<std::string> labels;
  int min_major = 0;
  std::string needs;
};

std::vector<CompatFamily> ReadCompatFamilies() {
  std::ifstream in(std::string(PGWARDEN_SOURCE_DIR) +
                   "/tests/compat/postgres_exporter_families.txt");
  std::vector<CompatFamily> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    CompatFamily f;
    std::string labels;
    fields >> f.name >> f.pe_type >> f.type >> labels >> f.min_major >> f.needs;
    if (labels != "-") {
      std::istringstream l(labels);
      std::string label;
      while (std::getline(l, label, ',')) f.labels.insert(label);
    }
    out.push_back(f);
  }
  return out;
}

// A drop-in replacement: every family postgres_exporter's default
// collectors emit is here, with the same label names, on this major.
TEST_F(IntegrationTest, PostgresExporterFamiliesAreEmitted) {
  const auto families = ReadCompatFamilies();
  ASSERT_GT(families.size(), 100u);
  pqxx::nontransaction& tx = Admin();
  const int major = tx.exec("SHOW server_version_num")[0][0].as<int>() / 10000;
  tx.exec("CREATE TABLE IF NOT EXISTS compat_t (id int PRIMARY KEY, v text)");
  tx.exec(
      "INSERT INTO compat_t SELECT g, 'v' FROM generate_series(1, 100) g ON "
      "CONFLICT DO NOTHING");
  tx.exec("SELECT count(*) FROM compat_t");
  tx.exec(
      "SELECT pg_create_physical_replication_slot('it_compat_slot', true) "
      "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = "
      "'it_compat_slot')");
  auto target = MakeTarget(kDatabase);
  const Families out = Scrape(*target);
  tx.exec("SELECT pg_drop_replication_slot('it_compat_slot')");
  int checked = 0;
  for (const auto& f : families) {
    if (major < f.min_major) continue;
    if (f.needs != "-" && f.needs != "slot") continue;  // see the file's header
    const auto* family = testing::FindFamily(out, f.name);
    ASSERT_NE(family, nullptr) << f.name << " missing on PostgreSQL " << major;
    EXPECT_EQ(TypeName(family->type), f.type) << f.name;
    if (f.type != f.pe_type) {
      EXPECT_EQ(f.type, "untyped")
          << f.name << ": only promtool's lint may change a type";
    }
    ASSERT_FALSE(family->metric.empty()) << f.name;
    for (const auto& m : family->metric) {
      std::set<std::string> labels;
      for (const auto& l : m.label) labels.insert(l.name);
      EXPECT_EQ(labels, f.labels) << f.name;
    }
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace pgwarden::testing

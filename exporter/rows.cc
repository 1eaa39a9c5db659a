#include "exporter/rows.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <stdexcept>

namespace pgwarden {

void Rows::Add(Row row) {
  if (row.size() != columns_.size()) {
    throw std::invalid_argument("row has " + std::to_string(row.size()) +
                                " cells for " +
                                std::to_string(columns_.size()) + " columns");
  }
  rows_.push_back(std::move(row));
}

namespace {

// One step of each hash for a cell (or column name): murmur (libstdc++'s
// std::hash) of the bytes, mixed with the length, and FNV-1a over the bytes
// then the length, so "ab","c" and "a","bc" differ in both.
void DigestCell(std::string_view cell, bool null, uint64_t& a, uint64_t& b) {
  constexpr uint64_t kFnvPrime = 1099511628211ull;
  const uint64_t length = null ? ~uint64_t{0} : cell.size();
  a ^= std::hash<std::string_view>{}(cell) + 0x9e3779b97f4a7c15ull + (a << 6) +
       (a >> 2);
  a ^= length * 0xff51afd7ed558ccdull;
  for (unsigned char c : cell) {
    b ^= c;
    b *= kFnvPrime;
  }
  for (int i = 0; i < 8; ++i) {
    b ^= (length >> (8 * i)) & 0xff;
    b *= kFnvPrime;
  }
}

}  // namespace

RowsDigest Digest(const Rows& rows) {
  RowsDigest d;
  d.rows = rows.size();
  d.a = 0x243f6a8885a308d3ull;
  d.b = 14695981039346656037ull;
  for (const auto& column : rows.columns()) DigestCell(column, false, d.a, d.b);
  for (const auto& row : rows.rows()) {
    for (const auto& cell : row) {
      DigestCell(cell ? std::string_view(*cell) : std::string_view(), !cell,
                 d.a, d.b);
    }
  }
  return d;
}

int Rows::Column(std::string_view name) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

const Rows::Cell& RowView::Get(std::string_view column) const {
  static const Rows::Cell kNull;
  const int i = rows_.Column(column);
  if (i < 0) return kNull;
  return rows_.row(index_)[static_cast<size_t>(i)];
}

std::string RowView::Text(std::string_view column, std::string fallback) const {
  const Rows::Cell& cell = Get(column);
  return cell ? *cell : fallback;
}

std::optional<double> RowView::Number(std::string_view column) const {
  const Rows::Cell& cell = Get(column);
  if (!cell) return std::nullopt;
  return ParseNumber(*cell);
}

double RowView::NumberOr(std::string_view column, double fallback) const {
  return Number(column).value_or(fallback);
}

std::optional<double> ParseNumber(std::string_view text) {
  if (text == "t" || text == "true" || text == "on") return 1.0;
  if (text == "f" || text == "false" || text == "off") return 0.0;
  if (text == "NaN") return std::nan("");
  if (text == "Infinity") return HUGE_VAL;
  if (text == "-Infinity") return -HUGE_VAL;
  if (text.empty() || text.size() > 64) return std::nullopt;
  // from_chars also reads "inf" and "nan" spellings PostgreSQL never
  // prints; refuse them so odd text does not become a sample.
  for (char c : text) {
    if (c == 'i' || c == 'I' || c == 'n' || c == 'N') return std::nullopt;
  }
  double value = 0;
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace pgwarden

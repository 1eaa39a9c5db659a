#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgwarden {

// One query result as text cells, the form libpq delivers. Keeps collectors
// free of libpqxx so that tests can feed them canned rows.
class Rows {
 public:
  using Cell = std::optional<std::string>;  // std::nullopt is SQL NULL.
  using Row = std::vector<Cell>;

  Rows() = default;
  explicit Rows(std::vector<std::string> columns)
      : columns_(std::move(columns)) {}

  // Appends a row; it must have one cell per column.
  void Add(Row row);
  void Reserve(size_t rows) { rows_.reserve(rows); }

  // Index of the named column, or -1 when the result has no such column.
  int Column(std::string_view name) const;

  size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  const std::vector<std::string>& columns() const { return columns_; }
  const Row& row(size_t i) const { return rows_[i]; }
  const std::vector<Row>& rows() const { return rows_; }

  bool operator==(const Rows& other) const {
    return columns_ == other.columns_ && rows_ == other.rows_;
  }

 private:
  std::vector<std::string> columns_;
  std::vector<Row> rows_;
};

// A 128-bit fingerprint of a result (columns, cells, NULLs, their
// boundaries), from two unrelated hashes: equal results have equal digests,
// and different ones practically never do. A target remembers this instead
// of the rows it parsed, to know that the next rows are the same.
struct RowsDigest {
  uint64_t a = 0, b = 0;
  size_t rows = 0;
  bool operator==(const RowsDigest& o) const {
    return a == o.a && b == o.b && rows == o.rows;
  }
};
RowsDigest Digest(const Rows& rows);

// Typed access to one row by column name. A missing column reads as NULL, so
// a parser written for several server versions degrades instead of failing.
class RowView {
 public:
  RowView(const Rows& rows, size_t index) : rows_(rows), index_(index) {}

  const Rows::Cell& Get(std::string_view column) const;
  // The cell's text, or `fallback` when NULL or missing.
  std::string Text(std::string_view column, std::string fallback = "") const;
  // The cell as a number (PostgreSQL's text form; "t"/"f" read as 1/0).
  // NULL, missing or unparsable cells give std::nullopt.
  std::optional<double> Number(std::string_view column) const;
  double NumberOr(std::string_view column, double fallback) const;

 private:
  const Rows& rows_;
  size_t index_;
};

// Parses PostgreSQL's text form of a number or boolean, including "NaN" and
// "Infinity". std::nullopt when `text` is neither.
std::optional<double> ParseNumber(std::string_view text);

}  // namespace pgwarden

// Table: left-aligned text columns for kithctl's readable output. Column widths
// fit the widest cell; the last column is not padded.
#pragma once

#include <string>
#include <vector>

namespace kith::kithctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t rows() const { return rows_.size() - 1; }
  // The table as text, one line per row (header first), each ending in '\n'.
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace kith::kithctl

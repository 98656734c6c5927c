// Table: left-aligned text columns for kithctl's readable output. Column widths
// fit the widest cell; the last column is not padded.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// A reply field as table text: strings as they are, other values as JSON,
// "-" when missing or null.
inline std::string cell(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace kith::kithctl

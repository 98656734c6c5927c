// ErrorList: collects the problems found in one input file as
// "<source>:<line>[:<column>]: <why>" lines, so that a rejected file is
// reported whole (the first kMaxErrors problems, then a count), never just its
// first mistake. Used by the kithd.toml and policy parsers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kith/common/status.h"

namespace kith {

class ErrorList {
 public:
  static constexpr size_t kMaxErrors = 20;

  explicit ErrorList(std::string_view source) : source_(source) {}

  // line 0: no line; column 0: no column.
  void add(uint32_t line, uint32_t column, std::string_view why) {
    std::string where = source_;
    if (line != 0) where += ":" + std::to_string(line);
    if (line != 0 && column != 0) where += ":" + std::to_string(column);
    addLine(where + ": " + std::string(why));
  }
  void add(uint32_t line, std::string_view why) { add(line, 0, why); }
  // A problem with no place in the file (a required key that is absent).
  void add(std::string_view why) { addLine(source_ + ": " + std::string(why)); }

  bool any() const { return count_ != 0; }
  size_t count() const { return count_; }
  // Code::kConfig with every line collected.
  Status status() const {
    std::string t = text_;
    if (count_ > kMaxErrors) t += "\n... and " + std::to_string(count_ - kMaxErrors) + " more";
    return Status::config(t);
  }

 private:
  void addLine(const std::string& line) {
    ++count_;
    if (count_ > kMaxErrors) return;
    if (!text_.empty()) text_ += '\n';
    text_ += line;
  }

  std::string source_;
  std::string text_;
  size_t count_ = 0;
};

}  // namespace kith

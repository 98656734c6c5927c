#include "prometheus_text.h"

#include <map>
#include <regex>
#include <set>
#include <cmath>
#include <sstream>

namespace kith::test {
namespace {

const std::string kName = R"([a-zA-Z_:][a-zA-Z0-9_:]*)";
const std::string kLabel = R"([a-zA-Z_][a-zA-Z0-9_]*)";
const std::string kLabelValue = R"("(?:[^"\\\n]|\\[\\"n])*")";
const std::string kPair = kLabel + "=" + kLabelValue;
const std::string kNumber = R"((?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN))";

}  // namespace

bool validExposition(const std::string& text, std::string* why) {
  static const std::regex help("# HELP (" + kName + ") .*");
  static const std::regex type("# TYPE (" + kName + ") (counter|gauge|histogram|summary|untyped)");
  static const std::regex sample("(" + kName + ")(\\{(?:" + kPair + "(?:," + kPair + ")*,?)?\\})? " + kNumber +
                                 "(?: -?[0-9]+)?");
  if (text.empty() || text.back() != '\n') {
    *why = "the text does not end with a newline";
    return false;
  }
  std::istringstream in(text);
  std::string line;
  std::set<std::string> typed, finished;
  std::string current;  // family whose samples are being read
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::smatch m;
    auto bad = [&](const std::string& what) {
      *why = "line " + std::to_string(n) + ": " + what + ": " + line;
      return false;
    };
    if (std::regex_match(line, m, help)) continue;
    if (std::regex_match(line, m, type)) {
      if (!typed.insert(m[1]).second) return bad("second TYPE for the family");
      continue;
    }
    if (!line.empty() && line[0] == '#') continue;  // other comments are allowed
    if (!std::regex_match(line, m, sample)) return bad("not a sample line");
    std::string name = m[1];
    if (name != current) {
      if (finished.count(name)) return bad("samples of a family are not contiguous");
      if (!current.empty()) finished.insert(current);
      current = name;
    }
    if (!typed.count(name)) return bad("sample before its family's TYPE");
  }
  return true;
}

std::optional<double> sampleValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      std::string v = line.substr(series.size() + 1);
      if (v == "NaN") return std::nan("");
      return std::stod(v);
    }
  }
  return std::nullopt;
}

}  // namespace kith::test

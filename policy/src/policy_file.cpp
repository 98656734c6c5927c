#include "kith/policy/policy_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <map>
#include <vector>

#include <toml++/toml.h>

#include "kith/common/unique_fd.h"
#include "kith/common/error_list.h"
#include "kith/common/toml_guard.h"

namespace kith::policy {
namespace {

using Errors = ErrorList;

uint32_t lineOf(const toml::node& n) { return n.source().begin.line; }

enum class Kind { kAllow, kDeny, kTest };

std::string_view sectionName(Kind k) {
  switch (k) {
    case Kind::kAllow: return "[[allow]]";
    case Kind::kDeny: return "[[deny]]";
    case Kind::kTest: return "[[test]]";
  }
  return "";
}

// Reads one table entry of [[allow]]/[[deny]]/[[test]]; every key is checked
// here, so an unknown or mistyped key can never be silently ignored.
class EntryReader {
 public:
  EntryReader(const toml::table& t, Kind kind, Errors& errors)
      : table_(t), kind_(kind), errors_(errors), line_(lineOf(t)) {}

  uint32_t line() const { return line_; }

  // Rejects keys outside `allowed`.
  void checkKeys(std::initializer_list<std::string_view> allowed) {
    for (auto&& [key, node] : table_) {
      bool known = false;
      for (std::string_view a : allowed) known |= key.str() == a;
      if (!known) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        error(key.source().begin.line,
              "unknown key '" + std::string(key.str()) + "' in " + std::string(sectionName(kind_)) +
                  " (known: " + list + ")");
      }
    }
  }

  std::optional<std::string> string(std::string_view key, bool required) {
    const toml::node* n = table_.get(key);
    if (n == nullptr) {
      if (required) error(line_, std::string(sectionName(kind_)) + " needs '" + std::string(key) + "'");
      return std::nullopt;
    }
    if (!n->is_string()) {
      error(lineOf(*n), "'" + std::string(key) + "' must be a string");
      return std::nullopt;
    }
    return n->as_string()->get();
  }

  std::optional<Pattern> pattern(std::string_view key) {
    auto s = string(key, true);
    if (!s) return std::nullopt;
    auto p = Pattern::parse(*s);
    if (!p.isOk()) {
      error(lineOf(*table_.get(key)), "'" + std::string(key) + "': " + p.status().message());
      return std::nullopt;
    }
    return std::move(p).value();
  }

  std::optional<Address> address(std::string_view key) {
    auto s = string(key, true);
    if (!s) return std::nullopt;
    auto a = Address::parse(*s);
    if (!a.isOk()) {
      error(lineOf(*table_.get(key)), "'" + std::string(key) + "': " + a.status().message());
      return std::nullopt;
    }
    return std::move(a).value();
  }

  bool boolean(std::string_view key) {
    const toml::node* n = table_.get(key);
    if (n == nullptr) return false;
    if (!n->is_boolean()) {
      error(lineOf(*n), "'" + std::string(key) + "' must be true or false");
      return false;
    }
    return n->as_boolean()->get();
  }

  // "tcp" | "udp" | a non-empty list of them; absent = `dflt`.
  ProtoSet protos(ProtoSet dflt, bool single) {
    const toml::node* n = table_.get("proto");
    if (n == nullptr) return dflt;
    auto one = [&](const toml::node& v) -> ProtoSet {
      std::optional<Proto> p;
      if (v.is_string()) p = parseProto(v.as_string()->get());
      if (!p) {
        error(lineOf(v), "'proto' must be \"tcp\" or \"udp\"");
        return 0;
      }
      return static_cast<ProtoSet>(*p);
    };
    if (const toml::array* a = n->as_array(); a != nullptr && !single) {
      if (a->empty()) {
        error(lineOf(*n), "'proto' is an empty list; leave it out to mean tcp and udp");
        return dflt;
      }
      ProtoSet set = 0;
      for (const toml::node& v : *a) set |= one(v);
      return set == 0 ? dflt : set;
    }
    ProtoSet set = one(*n);
    return set == 0 ? dflt : set;
  }

  // An integer 1..65535, or (unless `single`) a non-empty list of them.
  std::vector<uint16_t> ports(bool single) {
    std::vector<uint16_t> out;
    const toml::node* n = table_.get("port");
    if (n == nullptr) return out;
    auto one = [&](const toml::node& v) {
      std::optional<int64_t> i = v.is_integer() ? std::optional(v.as_integer()->get()) : std::nullopt;
      if (!i || *i < 1 || *i > 65535) {
        error(lineOf(v), single ? "'port' must be an integer 1..65535"
                                : "'port' must be an integer 1..65535 or a list of them");
        return;
      }
      out.push_back(static_cast<uint16_t>(*i));
    };
    if (const toml::array* a = n->as_array(); a != nullptr && !single) {
      if (a->empty()) error(lineOf(*n), "'port' is an empty list; leave it out to mean any port");
      for (const toml::node& v : *a) one(v);
    } else {
      one(*n);
    }
    return out;
  }

  std::vector<Pattern> patternList(std::string_view key) {
    std::vector<Pattern> out;
    const toml::node* n = table_.get(key);
    if (n == nullptr) return out;
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      error(lineOf(*n), "'" + std::string(key) + "' must be a list of patterns");
      return out;
    }
    for (const toml::node& v : *a) {
      if (!v.is_string()) {
        error(lineOf(v), "'" + std::string(key) + "' entries must be strings");
        continue;
      }
      auto p = Pattern::parse(v.as_string()->get());
      if (!p.isOk()) {
        error(lineOf(v), "'" + std::string(key) + "': " + p.status().message());
        continue;
      }
      out.push_back(std::move(p).value());
    }
    return out;
  }

  void error(uint32_t line, std::string_view why) {
    ok_ = false;
    errors_.add(line, why);
  }
  bool ok() const { return ok_; }

 private:
  const toml::table& table_;
  Kind kind_;
  Errors& errors_;
  uint32_t line_;
  bool ok_ = true;
};

std::optional<Rule> readRule(const toml::table& t, Kind kind, Errors& errors) {
  EntryReader r(t, kind, errors);
  if (kind == Kind::kAllow) {
    r.checkKeys({"name", "comment", "from", "to", "proto", "port", "cross_scope"});
  } else {
    r.checkKeys({"name", "comment", "from", "to", "proto", "port"});
  }
  Rule rule;
  rule.action = kind == Kind::kAllow ? Rule::Action::kAllow : Rule::Action::kDeny;
  rule.line = r.line();
  auto from = r.pattern("from");
  auto to = r.pattern("to");
  rule.protos = r.protos(kAllProtos, false);
  rule.ports = r.ports(false);
  if (kind == Kind::kAllow) rule.crossScope = r.boolean("cross_scope");
  rule.name = r.string("name", false).value_or("");
  rule.comment = r.string("comment", false).value_or("");
  if (!r.ok() || !from || !to) return std::nullopt;
  rule.from = std::move(*from);
  rule.to = std::move(*to);
  return rule;
}

std::optional<PolicyTest> readTest(const toml::table& t, Errors& errors) {
  EntryReader r(t, Kind::kTest, errors);
  r.checkKeys({"name", "comment", "from", "to", "proto", "port", "whitelist", "expect"});
  auto from = r.address("from");
  auto to = r.address("to");
  ProtoSet proto = r.protos(static_cast<ProtoSet>(Proto::kTcp), true);
  std::vector<uint16_t> port = r.ports(true);
  std::vector<Pattern> whitelist = r.patternList("whitelist");
  auto expect = r.string("expect", true);
  bool expectAllow = false;
  if (expect) {
    if (*expect == "allow") {
      expectAllow = true;
    } else if (*expect != "deny") {
      r.error(lineOf(*t.get("expect")), "'expect' must be \"allow\" or \"deny\"");
    }
  }
  auto name = r.string("name", false);
  r.string("comment", false);
  if (!r.ok() || !from || !to) return std::nullopt;
  return PolicyTest{std::move(*from),
                    std::move(*to),
                    contains(proto, Proto::kUdp) ? Proto::kUdp : Proto::kTcp,
                    port.empty() ? std::nullopt : std::optional<uint16_t>(port[0]),
                    std::move(whitelist),
                    expectAllow,
                    name.value_or(""),
                    r.line()};
}

Result<std::shared_ptr<const Policy>> parseTable(const toml::table& root,
                                                 std::string_view sourceName) {
  Errors errors(sourceName);
  bool audit = false;
  std::vector<Rule> rules;
  std::vector<PolicyTest> tests;
  std::map<std::string, uint32_t, std::less<>> names;  // rule name -> line

  for (auto&& [key, node] : root) {
    std::string_view k = key.str();
    uint32_t line = key.source().begin.line;
    if (k == "audit") {
      if (!node.is_boolean()) {
        errors.add(line, "'audit' must be true or false");
      } else {
        audit = node.as_boolean()->get();
      }
      continue;
    }
    Kind kind;
    if (k == "allow") {
      kind = Kind::kAllow;
    } else if (k == "deny") {
      kind = Kind::kDeny;
    } else if (k == "test") {
      kind = Kind::kTest;
    } else {
      errors.add(line, "unknown key '" + std::string(k) + "' (known: audit, [[allow]], [[deny]], [[test]])");
      continue;
    }
    if (!node.is_array_of_tables()) {
      errors.add(line, "'" + std::string(k) + "' must be written as [[" + std::string(k) +
                           "]] tables (an array of tables)");
      continue;
    }
    for (const toml::node& entry : *node.as_array()) {
      const toml::table& t = *entry.as_table();
      if (kind == Kind::kTest) {
        if (auto test = readTest(t, errors)) tests.push_back(std::move(*test));
        continue;
      }
      auto rule = readRule(t, kind, errors);
      if (!rule) continue;
      if (!rule->name.empty()) {
        auto [it, fresh] = names.emplace(rule->name, rule->line);
        if (!fresh) {
          errors.add(rule->line, "rule name '" + rule->name + "' is already used at " +
                                     std::string(sourceName) + ":" + std::to_string(it->second));
          continue;
        }
      }
      rules.push_back(std::move(*rule));
    }
  }
  if (errors.any()) return errors.status();

  // toml++ iterates keys in sorted order, so [[allow]] and [[deny]] entries may
  // have arrived out of file order; rule numbers follow the file.
  std::stable_sort(rules.begin(), rules.end(),
                   [](const Rule& a, const Rule& b) { return a.line < b.line; });
  std::stable_sort(tests.begin(), tests.end(),
                   [](const PolicyTest& a, const PolicyTest& b) { return a.line < b.line; });
  auto policy = Policy::compile(std::move(rules), std::move(tests), audit, std::string(sourceName));
  Status st = policy->runTests();
  if (!st.isOk()) return st;
  return policy;
}

}  // namespace

Result<std::shared_ptr<const Policy>> parsePolicy(std::string_view text,
                                                  std::string_view sourceName) {
  // toml++ reports errors by exception (Debian builds it with exceptions on);
  // they end here so that none escapes to a caller (STYLE.md rule 8).
  if (auto hazard = findTomlHazard(text)) {
    return Status::config(std::string(sourceName) + ":" + std::to_string(hazard->line) + ": " +
                          hazard->why);
  }
  try {
    // No source path: toml++ would keep a shared_ptr to it in every node (memory
    // and atomic refcounts); errors are prefixed with sourceName here instead.
    toml::table root = toml::parse(text, std::string_view{});
    return parseTable(root, sourceName);
  } catch (const toml::parse_error& e) {
    std::string where(sourceName);
    if (e.source().begin.line != 0) where += ":" + std::to_string(e.source().begin.line);
    return Status::config(where + ": " + std::string(e.description()));
  } catch (const std::exception& e) {
    return Status::config(std::string(sourceName) + ": " + e.what());
  }
}

Result<std::shared_ptr<const Policy>> loadPolicyFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::fromErrno("open policy file " + path, errno);
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::fromErrno("read policy file " + path, errno);
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > kMaxPolicyFileBytes) {
      return Status::config(path + ": larger than " + std::to_string(kMaxPolicyFileBytes >> 20) +
                            " MiB");
    }
    text.append(buf, static_cast<size_t>(n));
  }
  return parsePolicy(text, path);
}

}  // namespace kith::policy

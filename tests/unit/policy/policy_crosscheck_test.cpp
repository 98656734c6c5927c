// The compiled matcher against a naive reference: 10,000 generated rules, random
// connections (fixed seed), identical decisions. The reference is written from
// the model in kith-policy(5) and shares no matching code with the library.
#include <boost/test/unit_test.hpp>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kith/policy/policy_file.h"

using namespace kith::policy;

namespace {

// ---- the reference -------------------------------------------------------

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == '.') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// Plain recursive glob: * ? [set] [a-z] [!set] [^set].
bool refGlob(const char* p, const char* pe, const char* s, const char* se) {
  if (p == pe) return s == se;
  if (*p == '*') {
    for (const char* t = s;; ++t) {
      if (refGlob(p + 1, pe, t, se)) return true;
      if (t == se) return false;
    }
  }
  if (s == se) return false;
  if (*p == '?') return refGlob(p + 1, pe, s + 1, se);
  if (*p == '[') {
    const char* q = p + 1;
    bool neg = *q == '!' || *q == '^';
    if (neg) ++q;
    bool in = false;
    while (*q != ']') {
      if (q[1] == '-' && q[2] != ']') {
        in |= (*s >= q[0] && *s <= q[2]);
        q += 3;
      } else {
        in |= (*s == *q);
        ++q;
      }
    }
    return in != neg && refGlob(q + 1, pe, s + 1, se);
  }
  return *p == *s && refGlob(p + 1, pe, s + 1, se);
}

bool refMatch(const std::string& pattern, const std::string& address) {
  auto p = split(pattern), a = split(address);
  for (size_t i = 0; i < 5; ++i) {
    const std::string& pl = p[i];
    const std::string& al = a[i];
    if (!refGlob(pl.data(), pl.data() + pl.size(), al.data(), al.data() + al.size())) return false;
  }
  return true;
}

struct RefRule {
  bool allow;
  std::string from, to;
  bool tcp, udp;
  std::vector<int> ports;
  bool cross;
  std::string name;
  int line;
};

struct RefDecision {
  bool allowed;
  std::string rule;
  std::string where;
};

RefDecision refDecide(const std::vector<RefRule>& rules, const std::string& src,
                      const std::string& dst, bool tcp, std::optional<int> port,
                      const std::vector<std::string>& whitelist) {
  auto matches = [&](const RefRule& r) {
    if (tcp ? !r.tcp : !r.udp) return false;
    if (!r.ports.empty()) {
      if (!port) return false;
      bool found = false;
      for (int p : r.ports) found |= p == *port;
      if (!found) return false;
    }
    return refMatch(r.from, src) && refMatch(r.to, dst);
  };
  for (const RefRule& r : rules) {
    if (!r.allow && matches(r)) return {false, r.name, "gen.toml:" + std::to_string(r.line)};
  }
  bool same = split(src)[0] == split(dst)[0];
  for (const RefRule& r : rules) {
    if (r.allow && (same || r.cross) && matches(r)) {
      return {true, r.name, "gen.toml:" + std::to_string(r.line)};
    }
  }
  if (same) {
    for (const std::string& w : whitelist) {
      if (refMatch(w, src)) return {true, "whitelist", ""};
    }
  }
  return {false, "default deny", ""};
}

// ---- generation ------------------------------------------------------------

const std::vector<std::vector<std::string>> kWords = {
    {"dev", "prod", "stage"},
    {"web", "db", "cache", "api", "batch", "lb", "dns", "auth"},
    {},  // identities, filled below
    {"default", "r1", "r2", "eu-zone"},
    {"node0", "node1", "node2", "node3", "node4", "node5", "node6", "node7", "node8", "node9"},
};

struct Gen {
  std::mt19937 rng{20240601};
  std::vector<std::vector<std::string>> words = kWords;

  Gen() {
    for (int i = 0; i < 40; ++i) words[2].push_back("i" + std::to_string(i));
  }
  int below(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }
  const std::string& word(size_t label) { return words[label][below(words[label].size())]; }

  std::string address(std::optional<std::string> scope = std::nullopt) {
    std::string out = scope ? *scope : word(0);
    for (size_t l = 1; l < 5; ++l) out += "." + word(l);
    return out;
  }

  std::string patternLabel(size_t label) {
    std::string w = word(label);
    int r = below(100);
    if (r < 40) return w;
    if (r < 65) return "*";
    if (r < 75) return w.substr(0, 1 + below(w.size() - 1 > 0 ? w.size() - 1 : 1)) + "*";
    if (r < 82) return "*" + w.substr(1 + below(w.size() - 1 > 0 ? w.size() - 1 : 1));
    if (r < 89) {
      w[below(w.size())] = '?';
      return w;
    }
    char other = static_cast<char>('a' + below(26));
    if (r < 95) return "[" + std::string(1, w[0]) + other + "]" + w.substr(1);
    return "[!" + std::string(1, other) + "-z]" + w.substr(1);
  }

  std::string pattern() {
    std::string out = patternLabel(0);
    for (size_t l = 1; l < 5; ++l) out += "." + patternLabel(l);
    return out;
  }
};

const int kPorts[] = {80, 443, 5432, 53, 8080};

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_crosscheck)

BOOST_AUTO_TEST_CASE(ten_thousand_rules_decide_like_the_naive_reference) {
  Gen g;
  std::vector<RefRule> rules;
  std::string text = "# generated\n";
  int line = 2;
  for (int i = 0; i < 10000; ++i) {
    RefRule r;
    r.allow = g.below(100) >= 15;
    r.from = g.pattern();
    r.to = g.pattern();
    int pr = g.below(4);
    r.tcp = pr != 3;
    r.udp = pr != 2;
    if (g.below(10) >= 7) {
      r.ports.push_back(kPorts[g.below(4)]);
      if (g.below(2) == 0) r.ports.push_back(kPorts[g.below(4)]);
    }
    r.cross = r.allow && g.below(5) == 0;
    r.name = "r" + std::to_string(i);
    r.line = line;
    text += r.allow ? "[[allow]]\n" : "[[deny]]\n";
    text += "name = \"" + r.name + "\"\nfrom = \"" + r.from + "\"\nto = \"" + r.to + "\"\n";
    line += 4;
    if (pr == 2) {
      text += "proto = \"tcp\"\n";
      ++line;
    } else if (pr == 3) {
      text += "proto = [\"udp\"]\n";
      ++line;
    }
    if (!r.ports.empty()) {
      text += "port = [";
      for (size_t k = 0; k < r.ports.size(); ++k) {
        text += (k ? ", " : "") + std::to_string(r.ports[k]);
      }
      text += "]\n";
      ++line;
    }
    if (r.cross) {
      text += "cross_scope = true\n";
      ++line;
    }
    rules.push_back(std::move(r));
  }

  auto parsed = parsePolicy(text, "gen.toml");
  BOOST_REQUIRE_MESSAGE(parsed.isOk(), parsed.status().message());
  const Policy& policy = **parsed;
  BOOST_REQUIRE(policy.rules().size() == rules.size());

  int byAllowRule = 0, byDenyRule = 0, byWhitelist = 0, byDefault = 0, crossAllowed = 0;
  for (int q = 0; q < 3000; ++q) {
    std::string src = g.address();
    std::string dst = g.below(2) ? g.address(split(src)[0]) : g.address();
    bool tcp = g.below(2) == 0;
    std::optional<int> port;
    if (g.below(10) >= 4) port = kPorts[g.below(5)];
    std::vector<std::string> wl;
    for (int k = g.below(4); k > 0; --k) wl.push_back(g.pattern());
    if (g.below(2) == 0) {  // an entry written for this source, so whitelists do match
      auto labels = split(src);
      std::string w = labels[0];
      for (size_t l = 1; l < 5; ++l) w += "." + (g.below(2) ? labels[l] : std::string("*"));
      wl.insert(wl.begin() + g.below(static_cast<int>(wl.size()) + 1), w);
    }

    RefDecision want = refDecide(rules, src, dst, tcp, port, wl);

    std::vector<Pattern> wlp;
    for (const auto& w : wl) wlp.push_back(*Pattern::parse(w));
    Decision got = policy.decide(*Address::parse(src), *Address::parse(dst),
                                 tcp ? Proto::kTcp : Proto::kUdp,
                                 port ? std::optional<uint16_t>(*port) : std::nullopt, wlp);
    BOOST_TEST_CONTEXT(src << " -> " << dst << (tcp ? " tcp" : " udp") << " port "
                           << (port ? *port : 0) << " (query " << q << ")") {
      BOOST_TEST(got.allowed == want.allowed);
      BOOST_TEST(!got.audited);
      BOOST_TEST(got.rule == want.rule);
      BOOST_TEST(got.where == want.where);
    }
    if (want.rule == "default deny") {
      ++byDefault;
    } else if (want.rule == "whitelist") {
      ++byWhitelist;
    } else if (want.allowed) {
      ++byAllowRule;
      crossAllowed += split(src)[0] != split(dst)[0];
    } else {
      ++byDenyRule;
    }
  }
  BOOST_TEST_MESSAGE("allow rule " << byAllowRule << " (cross scope " << crossAllowed
                                   << "), deny rule " << byDenyRule << ", whitelist "
                                   << byWhitelist << ", default " << byDefault);
  // The generator must exercise every outcome, or the comparison proves little.
  BOOST_TEST(byAllowRule >= 100);
  BOOST_TEST(crossAllowed >= 20);
  BOOST_TEST(byDenyRule >= 50);
  BOOST_TEST(byWhitelist >= 50);
  BOOST_TEST(byDefault >= 100);
}

BOOST_AUTO_TEST_SUITE_END()

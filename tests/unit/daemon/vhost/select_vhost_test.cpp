// The SELECT-VHOST preamble parser: every prefix of a good line waits for
// more, application data is left alone, and bad lines are refused.
#include "kith/daemon/vhost/select_vhost.h"

#include <boost/test/unit_test.hpp>
#include <string>

#include "kith/identity/keys.h"

using namespace kith;
using namespace kith::daemon;
using Kind = SelectVhost::Kind;

namespace {
std::string someHostId() {
  auto key = identity::SigningKey::generate();
  return identity::HostId::fromHostKey(key.publicKey()).toString();
}
}  // namespace

BOOST_AUTO_TEST_SUITE(select_vhost)

BOOST_AUTO_TEST_CASE(a_line_naming_a_host_id_selects_it_and_leaves_the_rest) {
  std::string id = someHostId();
  for (std::string eol : {"\n", "\r\n"}) {
    std::string wire = "SELECT-VHOST " + id + eol + "GET / HTTP/1.1\r\n";
    auto s = parseSelectVhost(wire);
    BOOST_REQUIRE(s.kind == Kind::kSelected);
    BOOST_TEST(s.hostId.toString() == id);
    BOOST_TEST(wire.substr(s.consumed) == "GET / HTTP/1.1\r\n");
    // Every strict prefix of the line waits for more.
    for (size_t n = 0; n < s.consumed; ++n) {
      BOOST_TEST((parseSelectVhost(wire.substr(0, n)).kind == Kind::kNeedMore), n);
    }
  }
}

BOOST_AUTO_TEST_CASE(anything_else_is_application_data) {
  for (std::string data : {"GET / HTTP/1.1\r\n", "S", "SELECT-VHOSTX", "SELECT-VHOST\n", "select-vhost abc\n", "\x16\x03\x01"}) {
    auto k = parseSelectVhost(data).kind;
    BOOST_TEST((k == Kind::kAbsent || (data == "S" && k == Kind::kNeedMore)), data);
  }
}

BOOST_AUTO_TEST_CASE(bad_or_endless_lines_are_refused) {
  for (std::string bad : {"SELECT-VHOST \n", "SELECT-VHOST nothex!\n", "SELECT-VHOST abc\r\n"}) {
    auto s = parseSelectVhost(bad);
    BOOST_TEST((s.kind == Kind::kInvalid), bad);
    BOOST_TEST(static_cast<int>(s.error.code()) == static_cast<int>(Code::kBadRequest));
  }
  std::string endless = "SELECT-VHOST " + std::string(400, 'a');
  BOOST_TEST((parseSelectVhost(endless).kind == Kind::kInvalid));
  BOOST_TEST(parseSelectVhost(endless).error.message() == "SELECT-VHOST line too long");
  BOOST_TEST((parseSelectVhost(endless.substr(0, 200)).kind == Kind::kNeedMore));
}

BOOST_AUTO_TEST_SUITE_END()

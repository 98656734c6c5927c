// The one Boost.Test entry point, linked into every test binary.
#define BOOST_TEST_MODULE kith
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cstdlib>

#include "kith/common/log.h"

namespace {
// Tests log only warnings and errors unless KITH_TEST_LOG=debug|info asks for more.
struct QuietLogs {
  QuietLogs() {
    kith::log::Level l = kith::log::Level::kWarn;
    if (const char* v = std::getenv("KITH_TEST_LOG")) kith::log::parseLevel(v, &l);
    kith::log::setLevel(l);
  }
};
}  // namespace
BOOST_TEST_GLOBAL_FIXTURE(QuietLogs);

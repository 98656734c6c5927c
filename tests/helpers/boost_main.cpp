// The one Boost.Test entry point, linked into every test binary.
#define BOOST_TEST_MODULE kith
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

// Precompiled header of the test binaries (tests/): core.h plus Boost.Test.
#ifndef KITH_PCH_TEST_H
#define KITH_PCH_TEST_H

#include "core.h"

#include <boost/test/unit_test.hpp>

#endif  // KITH_PCH_TEST_H

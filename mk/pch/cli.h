// Precompiled header of kithctl (libclient/kithctl/): core.h plus CLI11.
#ifndef KITH_PCH_CLI_H
#define KITH_PCH_CLI_H

#include "core.h"

#include <CLI/CLI.hpp>

#endif  // KITH_PCH_CLI_H

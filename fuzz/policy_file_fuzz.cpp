// libFuzzer target: the policy file parser and compiler (TOML rules and
// [[test]]s), which reads an operator-edited file on every reload. Invariant:
// nothing crashes; any input is either a policy or an error with a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kith/policy/policy_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;  // big files only slow the search down
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto p = kith::policy::parsePolicy(text, "fuzz.toml");
  if (!p.isOk() && p.status().message().empty()) std::abort();
  return 0;
}

// libFuzzer target: the shard seal parser (replication/shard.h), which reads
// the first frame of any RECORDS message a peer sends. Invariants: nothing
// crashes; a seal parseShard accepts prints back to the same bytes
// (shardLine), and its signing input is the line without the signature.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kith/replication/shard.h"

using namespace kith;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto s = replication::parseShard(line);
  if (!s.isOk()) return 0;
  std::string printed = replication::shardLine(*s);
  if (printed != line) std::abort();
  auto again = replication::parseShard(printed);
  if (!again.isOk() || replication::shardSigningInput(*again) != replication::shardSigningInput(*s)) std::abort();
  // "SHARD <from> <until> <cipher> <sig> <rest>" minus "<sig> ".
  size_t sig = 0;
  for (int spaces = 0; spaces < 4; ++spaces) sig = printed.find(' ', sig) + 1;
  std::string input = printed.substr(0, sig) + printed.substr(printed.find(' ', sig) + 1);
  if (replication::shardSigningInput(*s) != input) std::abort();
  return 0;
}

// LineBuffer: splits a byte stream into newline-terminated lines of bounded size.
//
// The socket API frames one JSON object per line, at most kMaxLineBytes bytes
// including the newline. A line that grows past the limit is discarded up to its
// newline and reported once as an oversize line, so a hostile or broken client
// can neither make the daemon buffer without bound nor wedge the connection.
// Not thread-safe; owned by one connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kith::api {

inline constexpr size_t kMaxLineBytes = 65536;
// Replies (a list of every workload, say) may be longer than requests; clients
// accept lines up to this size.
inline constexpr size_t kMaxReplyBytes = 64u << 20;

class LineBuffer {
 public:
  enum class Kind { kLine, kOversize };
  struct Item {
    Kind kind;
    std::string line;  // without the newline; empty for kOversize
  };

  explicit LineBuffer(size_t maxLine = kMaxLineBytes) : max_(maxLine) {}

  // Appends bytes read from the stream.
  void append(std::string_view bytes);
  // Takes the next complete item; false when none is complete yet.
  bool next(Item* out);
  // Bytes buffered but not yet a complete line.
  size_t pending() const { return buf_.size() - pos_; }

 private:
  size_t max_;
  std::string buf_;
  size_t pos_ = 0;         // start of the unconsumed region
  size_t scanned_ = 0;     // bytes after pos_ known to hold no newline
  bool discarding_ = false;  // inside an oversize line, dropping to its newline
  bool oversizePending_ = false;
};

}  // namespace kith::api

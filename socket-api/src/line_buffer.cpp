#include "kith/socket-api/line_buffer.h"

#include <cstring>

namespace kith::api {

void LineBuffer::append(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  buf_.append(bytes);
}

bool LineBuffer::next(Item* out) {
  for (;;) {
    if (oversizePending_ && !discarding_) {
      oversizePending_ = false;
      out->kind = Kind::kOversize;
      out->line.clear();
      return true;
    }
    const char* base = buf_.data() + pos_;
    size_t avail = buf_.size() - pos_;
    const void* nl = avail > scanned_ ? std::memchr(base + scanned_, '\n', avail - scanned_) : nullptr;
    if (discarding_) {
      if (!nl) {
        // Drop everything: we are inside a line that is already too long.
        buf_.clear();
        pos_ = scanned_ = 0;
        return false;
      }
      pos_ += static_cast<size_t>(static_cast<const char*>(nl) - base) + 1;
      scanned_ = 0;
      discarding_ = false;
      continue;  // report the oversize line, then go on
    }
    if (!nl) {
      scanned_ = avail;
      if (avail >= max_) {  // no newline within the limit: the line is too long
        discarding_ = true;
        oversizePending_ = true;
        buf_.clear();
        pos_ = scanned_ = 0;
      }
      // Compact so the buffer holds at most one partial line.
      if (pos_ > 0 && pos_ > buf_.size() / 2) {
        buf_.erase(0, pos_);
        pos_ = 0;
      }
      return false;
    }
    size_t len = static_cast<size_t>(static_cast<const char*>(nl) - base);
    scanned_ = 0;
    if (len + 1 > max_) {
      pos_ += len + 1;
      out->kind = Kind::kOversize;
      out->line.clear();
      return true;
    }
    out->kind = Kind::kLine;
    out->line.assign(base, len);
    if (!out->line.empty() && out->line.back() == '\r') out->line.pop_back();
    pos_ += len + 1;
    return true;
  }
}

}  // namespace kith::api

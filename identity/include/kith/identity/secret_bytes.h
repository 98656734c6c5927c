// SecretBytes<N>: a fixed-size buffer of secret key material that is wiped
// (sodium_memzero) when destroyed or moved from.
//
// Ownership: sole owner of its bytes; move-only so secrets are never copied by
// accident (call copy() when a second owner is really wanted). Thread rules: none
// of its own; treat like any value.
#pragma once

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace kith::identity {

template <size_t N>
class SecretBytes {
 public:
  SecretBytes() { bytes_.fill(0); }
  explicit SecretBytes(std::span<const uint8_t, N> from) {
    std::copy(from.begin(), from.end(), bytes_.begin());
  }
  SecretBytes(SecretBytes&& o) noexcept : bytes_(o.bytes_) { o.wipe(); }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      bytes_ = o.bytes_;
      o.wipe();
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes() { wipe(); }

  SecretBytes copy() const { return SecretBytes(std::span<const uint8_t, N>(bytes_)); }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }
  std::span<const uint8_t, N> span() const { return std::span<const uint8_t, N>(bytes_); }
  void wipe() { sodium_memzero(bytes_.data(), N); }

 private:
  std::array<uint8_t, N> bytes_;
};

}  // namespace kith::identity

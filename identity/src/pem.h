// PEM armour (RFC 7468) — private to identity/.
//
// Encodes DER as "-----BEGIN <label>-----" blocks with 64-column base64, and
// finds blocks of a given label in text that may hold several (a bundle) and
// anything else between them (OpenSSL's "Bag Attributes", comments).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/encoding.h"

namespace kith::identity::pem {

std::string encode(std::string_view label, const Bytes& der);
// Every block labelled `label`, in order. A block with bad base64 or a missing
// END line is an error (nullopt), not skipped: a damaged file must not look
// like an empty one.
std::optional<std::vector<Bytes>> decodeAll(std::string_view text, std::string_view label);

}  // namespace kith::identity::pem

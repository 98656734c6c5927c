// Signing records: the one place a Record gets its validity window and its
// Ed25519 signature (docs/REPLICATION.md). The root key signs `deleg` records;
// a node key signs the records of its own zone. Which key is right for which
// record is the caller's business; the Verifier checks it on the other side.
//
// Pure function of its inputs (Ed25519 is deterministic); thread-safe.
#pragma once

#include <cstdint>

#include "kith/common/status.h"
#include "kith/identity/keys.h"
#include "kith/replication/record.h"

namespace kith::replication {

// Sets r's validity [validFrom, validUntil] (unix seconds, inclusive), cipher 1,
// the signature over signingInput(r), and r.line = signedLine(r). Refuses
// (BAD_REQUEST, r unchanged) a record that validate() rejects, a window that
// is empty or outside 1970..9999, or a signed line over kMaxRecordLine bytes.
Status sign(Record& r, const identity::SigningKey& key, int64_t validFrom, int64_t validUntil);

}  // namespace kith::replication

#include "kith/replication/signer.h"

#include <string>

namespace kith::replication {

Status sign(Record& r, const identity::SigningKey& key, int64_t validFrom, int64_t validUntil) {
  KITH_RETURN_IF_ERROR(validate(r));
  if (validFrom < 0 || validUntil > kMaxRecordTime || validUntil < validFrom) {
    return Status::badRequest("record: validity window [" + std::to_string(validFrom) + ", " +
                              std::to_string(validUntil) + "] is empty or out of range");
  }
  Record signedRecord = r;
  signedRecord.validFrom = validFrom;
  signedRecord.validUntil = validUntil;
  signedRecord.cipher = kCipherEd25519;
  signedRecord.signature = key.sign(signingInput(signedRecord));
  signedRecord.line = signedLine(signedRecord);
  if (signedRecord.line.size() > kMaxRecordLine) {
    return Status::badRequest("record: signed line would be " +
                              std::to_string(signedRecord.line.size()) + " bytes, at most " +
                              std::to_string(kMaxRecordLine));
  }
  r = std::move(signedRecord);
  return Status::ok();
}

}  // namespace kith::replication

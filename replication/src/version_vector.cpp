#include "kith/replication/version_vector.h"

#include <nlohmann/json.hpp>

#include "kith/common/json.h"
#include "kith/identity/spiffe.h"
#include "kith/replication/record.h"

namespace kith::replication {
namespace {

bool validZone(std::string_view z) {
  return z == kRootZone || identity::isValidMachineName(z);
}

// SAX handler that accepts exactly one flat object of zone -> uint64 and stops
// at the first thing that is not (no DOM, no recursion on hostile nesting).
class Handler : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit Handler(VersionVector* out) : out_(out) {}
  std::string error;

  bool null() override { return fail("values must be unsigned integers"); }
  bool boolean(bool) override { return fail("values must be unsigned integers"); }
  bool number_integer(number_integer_t) override {
    return fail("values must be unsigned integers");
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (depth_ != 1 || !haveKey_) return fail("a top-level value must be an object");
    haveKey_ = false;
    if (!out_->emplace(key_, v).second) return fail("zone '" + key_ + "' appears twice");
    if (out_->size() > kMaxVersionVectorZones) {
      return fail("more than " + std::to_string(kMaxVersionVectorZones) + " zones");
    }
    return true;
  }
  bool number_float(number_float_t, const string_t&) override {
    return fail("values must be unsigned integers (no fraction, exponent or overflow)");
  }
  bool string(string_t&) override { return fail("values must be unsigned integers"); }
  bool binary(binary_t&) override { return fail("values must be unsigned integers"); }
  bool start_object(std::size_t) override {
    if (depth_ != 0) return fail("values must be unsigned integers");
    depth_ = 1;
    return true;
  }
  bool key(string_t& k) override {
    if (!validZone(k)) return fail("key '" + k.substr(0, 80) + "' is not a zone name");
    key_ = k;
    haveKey_ = true;
    return true;
  }
  bool end_object() override {
    depth_ = 2;  // done: anything after is an error
    return true;
  }
  bool start_array(std::size_t) override {
    return fail(depth_ == 0 ? "not a JSON object" : "values must be unsigned integers");
  }
  bool end_array() override { return fail("values must be unsigned integers"); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) override {
    return fail("not valid JSON (at byte " + std::to_string(position) + ")");
  }

 private:
  bool fail(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }
  VersionVector* out_;
  std::string key_;
  bool haveKey_ = false;
  int depth_ = 0;
};

}  // namespace

std::string encodeVersionVector(const VersionVector& vv) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [zone, seq] : vv) j[zone] = seq;
  return dumpJson(j);
}

Result<VersionVector> parseVersionVector(std::string_view json) {
  auto bad = [](const std::string& what) {
    return Status::badRequest("version vector: " + what);
  };
  if (json.size() > kMaxVersionVectorBytes) {
    return bad(std::to_string(json.size()) + " bytes, at most " +
               std::to_string(kMaxVersionVectorBytes));
  }
  VersionVector vv;
  Handler h(&vv);
  bool ok = nlohmann::json::sax_parse(json.begin(), json.end(), &h,
                                      nlohmann::json::input_format_t::json, true);
  if (!ok || !h.error.empty()) return bad(h.error.empty() ? "not valid JSON" : h.error);
  return vv;
}

}  // namespace kith::replication

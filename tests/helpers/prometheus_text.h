// Checks text against the Prometheus text exposition format (0.0.4) and reads
// sample values out of it, for the metrics tests.
#pragma once

#include <optional>
#include <string>

namespace kith::test {

// True when every line is a HELP, TYPE or sample line of the exposition
// grammar, each family's TYPE comes once and before its samples, a family's
// samples are contiguous, and the text ends with a newline. *why names the
// first offending line.
bool validExposition(const std::string& text, std::string* why);

// The value of the sample whose series is exactly `series` (e.g.
// `kith_workloads` or `kith_api_errors_total{code="BAD_REQUEST"}`).
std::optional<double> sampleValue(const std::string& text, const std::string& series);

}  // namespace kith::test

// Precompiled header of every C++ translation unit built with g++ (mk/pch.mk):
// the standard library parts nearly every file uses and nlohmann-json, which
// common/log.h brings into all of them. It changes no meaning: each file still
// includes what it uses, and a build without precompiled headers (clang's
// fuzz tree) includes this text as an ordinary header.
#ifndef KITH_PCH_CORE_H
#define KITH_PCH_CORE_H

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#endif  // KITH_PCH_CORE_H

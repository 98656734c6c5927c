# policy/build.mk — libkith_policy.a: addresses, patterns, rule files, the
# compiled matcher. Depends only on common/ and header-only toml++ / nlohmann-json.
$(eval $(call kith_library,policy,policy))

# policy/build.mk — libkith_policy.a: addresses, patterns, rule files, the
# compiled matcher. Depends only on common/ and header-only toml++ / nlohmann-json.
$(eval $(call kith_library,policy,policy))

# Decision latency and reload cost; `make bench` runs it.
$(BIN)/bench_policy: bench/policy_bench.cpp $(LIB)/libkith_policy.a $(LIB)/libkith_common.a
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(CPPFLAGS) $(OPTFLAGS) $(CXXFLAGS) $(LDFLAGS) -o $@ $< $(LIB)/libkith_policy.a $(LIB)/libkith_common.a
BENCH_TARGETS += $(BIN)/bench_policy

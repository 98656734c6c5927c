# tests/build.mk — one Boost.Test binary per folder under tests/unit/, plus
# tests/integration/ (real daemons). tests/helpers/ is linked into all of them.

TEST_HELPER_SRCS := $(wildcard tests/helpers/*.cpp)
TEST_HELPER_OBJS := $(patsubst %.cpp,$(OBJ)/%.o,$(TEST_HELPER_SRCS))
ALL_OBJS += $(TEST_HELPER_OBJS)

UNIT_DIRS := $(sort $(foreach f,$(wildcard tests/unit/*/*_test.cpp tests/unit/*/*/*_test.cpp),$(word 3,$(subst /, ,$(f)))))

# $(call kith_test_binary,NAME,SOURCES)
define kith_test_binary
$(1)_TEST_OBJS := $$(patsubst %.cpp,$$(OBJ)/%.o,$(2))
ALL_OBJS += $$($(1)_TEST_OBJS)
$$(TESTBIN)/$(1): $$($(1)_TEST_OBJS) $$(TEST_HELPER_OBJS) $$(KITH_INTERNAL_LIBS)
	@mkdir -p $$(@D)
	@echo "  LD  $$@"
	$$(Q)$$(CXX) $$(LDFLAGS) -o $$@ $$($(1)_TEST_OBJS) $$(TEST_HELPER_OBJS) $$(KITH_INTERNAL_LIBS) $$(DEP_LIBS) $$(TEST_LIBS)
TEST_BINARIES += $$(TESTBIN)/$(1)
endef

TEST_BINARIES :=
# Integration tests build sources of the tree (the README example).
$(OBJ)/tests/integration/%.o: CPPFLAGS += -DKITH_SOURCE_DIR='"$(CURDIR)"' -DKITH_SANITIZE_FLAGS='"$(SAN_FLAGS)"'
$(foreach d,$(UNIT_DIRS),$(eval $(call kith_test_binary,unit_$(d),$(wildcard tests/unit/$(d)/*_test.cpp tests/unit/$(d)/*/*_test.cpp))))
INTEGRATION_SRCS := $(wildcard tests/integration/*_test.cpp)
ifneq ($(INTEGRATION_SRCS),)
$(eval $(call kith_test_binary,integration,$(INTEGRATION_SRCS)))
endif

tests: $(TEST_BINARIES)

test: all $(TEST_BINARIES)
	@KITH_BUILD=$(CURDIR)/$(BUILD) scripts/run-tests.sh $(TEST_BINARIES)

unit: all $(filter $(TESTBIN)/unit_%,$(TEST_BINARIES))
	@KITH_BUILD=$(CURDIR)/$(BUILD) scripts/run-tests.sh $(filter $(TESTBIN)/unit_%,$(TEST_BINARIES))

integration: all $(filter $(TESTBIN)/integration,$(TEST_BINARIES))
	@KITH_BUILD=$(CURDIR)/$(BUILD) scripts/run-tests.sh $(filter $(TESTBIN)/integration,$(TEST_BINARIES))

# mk/main.mk — the build proper; entered from the top-level Makefile after deps.
# Folder rules are in <folder>/build.mk and use the helpers defined here.

BUILD ?= build
OBJ := $(BUILD)/obj
LIB := $(BUILD)/lib
BIN := $(BUILD)/bin
TESTBIN := $(BUILD)/tests
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0
# V=1 shows full command lines.
Q := $(if $(V),,@)

include mk/toolchain.mk

INCLUDE_DIRS := common/include identity/include socket-api/include policy/include \
                replication/include daemon/include libclient/include
CPPFLAGS += $(addprefix -I,$(INCLUDE_DIRS)) -DKITH_VERSION='"$(VERSION)"'

ALL_OBJS :=

# $(call kith_library,NAME,FOLDER): build/lib/libkith_NAME.a from FOLDER/src/*.cpp and
# FOLDER/src/<subsystem>/*.cpp
# (a folder with no sources yet defines nothing).
define kith_library
$(1)_SRCS := $$(wildcard $(2)/src/*.cpp $(2)/src/*/*.cpp)
ifneq ($$($(1)_SRCS),)
KITH_BUILT_LIBS += $(1)
ALL_TARGETS += $$(LIB)/libkith_$(1).a
endif
$(1)_OBJS := $$(patsubst %.cpp,$$(OBJ)/%.o,$$($(1)_SRCS))
$$(LIB)/libkith_$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(@D)
	@rm -f $$@
	$$(Q)$$(AR) rcs $$@ $$^
ALL_OBJS += $$($(1)_OBJS)
endef

include mk/pch.mk

# Three compile rules, one per precompiled header (mk/pch.mk); make picks the
# most specific pattern.
$(OBJ)/tests/%.o: tests/%.cpp $(call PCH_GCH,test)
	@mkdir -p $(@D)
	@echo "  CXX $<"
	$(Q)$(CXX) $(CPPFLAGS) $(TEST_OPTFLAGS) $(CXXFLAGS) $(call PCH_USE,test) -MMD -MP -c $< -o $@

# Boost.Test's main: BOOST_TEST_MODULE must be defined before its first
# inclusion of unit_test.hpp, which test.h would make earlier.
$(OBJ)/tests/helpers/boost_main.o: tests/helpers/boost_main.cpp $(call PCH_GCH,core)
	@mkdir -p $(@D)
	@echo "  CXX $<"
	$(Q)$(CXX) $(CPPFLAGS) $(TEST_OPTFLAGS) $(CXXFLAGS) $(call PCH_USE,core) -MMD -MP -c $< -o $@

$(OBJ)/libclient/kithctl/%.o: libclient/kithctl/%.cpp $(call PCH_GCH,cli)
	@mkdir -p $(@D)
	@echo "  CXX $<"
	$(Q)$(CXX) $(CPPFLAGS) $(OPTFLAGS) $(CXXFLAGS) $(call PCH_USE,cli) -MMD -MP -c $< -o $@

$(OBJ)/%.o: %.cpp $(call PCH_GCH,core)
	@mkdir -p $(@D)
	@echo "  CXX $<"
	$(Q)$(CXX) $(CPPFLAGS) $(OPTFLAGS) $(CXXFLAGS) $(call PCH_USE,core) -MMD -MP -c $< -o $@

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC  $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# Link order: dependents before dependencies.
KITH_BUILT_LIBS :=
KITH_INTERNAL_LIBS = $(foreach l,daemon policy replication identity socket_api common,$(if $(filter $(l),$(KITH_BUILT_LIBS)),$(LIB)/libkith_$(l).a))

include common/build.mk
include identity/build.mk
include socket-api/build.mk
include policy/build.mk
include replication/build.mk
include daemon/build.mk
include libclient/build.mk
include tests/build.mk
include bench/build.mk
include man/build.mk
include fuzz/build.mk
include mk/static.mk
include mk/install.mk

.PHONY: all test unit integration run bench install asan static fuzz

all: $(ALL_TARGETS)

# The one-machine default: dev CA, node identity, state and sockets under
# ./.kith/ (or $KITH_HOME). Ctrl-C drains and exits.
run: all
	$(BIN)/kithd --dev $(if $(KITH_HOME),--home $(KITH_HOME),)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its
# own build tree. Any report fails the run (halt_on_error, abort_on_error).
asan: export ASAN_OPTIONS = detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0
asan: export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
asan:
	@$(MAKE) -f mk/main.mk BUILD=build-asan SANITIZE=1 test

-include $(ALL_OBJS:.o=.d)

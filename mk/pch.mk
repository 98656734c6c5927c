# mk/pch.mk — precompiled headers (g++ only).
#
# Three headers in mk/pch/: core.h (the standard library and nlohmann-json),
# test.h (core + Boost.Test) for tests/, cli.h (core + CLI11) for kithctl.
# Each is copied into $(BUILD)/pch/ and compiled there with exactly the flags
# of the files that use it (the tests' own optimisation level included), so
# `-include $(BUILD)/pch/NAME.h` finds NAME.h.gch beside it. Every object
# depends on its header's .gch: changing mk/pch/ rebuilds what uses it.
# KITH_PCH=0 (or a clang build such as the fuzz tree) turns them off; the
# -include then reads the plain header, which changes nothing.

KITH_PCH ?= $(if $(filter 1,$(KITH_FUZZ)),0,1)
PCH_DIR := $(BUILD)/pch

ifeq ($(KITH_PCH),1)
PCH_GCH = $(PCH_DIR)/$(1).h.gch
# -fpch-preprocess keeps ccache (for those who use it) able to cache with PCH.
PCH_USE = -include $(PCH_DIR)/$(1).h -Winvalid-pch -fpch-preprocess
else
PCH_GCH =
PCH_USE = -include mk/pch/$(1).h
endif

# $(call pch_rule,NAME,OPTFLAGS,EXTRA_CPPFLAGS)
define pch_rule
$(PCH_DIR)/$(1).h: mk/pch/$(1).h mk/pch/core.h
	@mkdir -p $$(@D)
	$$(Q)cp $(sort mk/pch/core.h mk/pch/$(1).h) $$(@D)/
$(PCH_DIR)/$(1).h.gch: $(PCH_DIR)/$(1).h
	@echo "  PCH $$<"
	$$(Q)$$(CXX) $$(CPPFLAGS) $(3) $(2) $$(CXXFLAGS) -MMD -MP -x c++-header -c $$< -o $$@
endef

ifeq ($(KITH_PCH),1)
$(eval $(call pch_rule,core,$(OPTFLAGS)))
$(eval $(call pch_rule,cli,$(OPTFLAGS)))
$(eval $(call pch_rule,test,$(TEST_OPTFLAGS)))
-include $(PCH_DIR)/core.h.d $(PCH_DIR)/cli.h.d $(PCH_DIR)/test.h.d
endif

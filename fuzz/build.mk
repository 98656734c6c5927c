# fuzz/build.mk — libFuzzer targets, built with Debian's clang in their own
# tree (build-fuzz/, every library compiled with -fsanitize=fuzzer-no-link plus
# ASan and UBSan).
#
#   make fuzz                    each target for FUZZ_SECONDS (default 60) from its seeds
#   make fuzz FUZZ_SECONDS=600   longer
#   make fuzz FUZZ_TARGETS=record
#
# Adding a target is one file: fuzz/NAME_fuzz.cpp defining
# LLVMFuzzerTestOneInput, plus seeds in fuzz/corpus/NAME/ (optional). Every
# target links every kith library. A crash leaves its input in
# build-fuzz/crashes/ (reproduce: build-fuzz/bin/fuzz_NAME FILE); turn it into
# a regression test (tests/unit/<folder>/...) with the fix.

FUZZ_SRCS := $(wildcard fuzz/*_fuzz.cpp)
FUZZ_ALL := $(patsubst fuzz/%_fuzz.cpp,%,$(FUZZ_SRCS))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 60
FUZZ_CXX ?= clang++
FUZZ_CC ?= clang

ifeq ($(KITH_FUZZ),1)
  FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  CXXFLAGS += $(FUZZ_FLAGS)
  CFLAGS += $(FUZZ_FLAGS)
  LDFLAGS += -fsanitize=address,undefined

  FUZZ_OBJS := $(patsubst %.cpp,$(OBJ)/%.o,$(FUZZ_SRCS))
  ALL_OBJS += $(FUZZ_OBJS)
  .SECONDARY: $(FUZZ_OBJS)
  $(BIN)/fuzz_%: $(OBJ)/fuzz/%_fuzz.o $(KITH_INTERNAL_LIBS)
	@mkdir -p $(@D)
	@echo "  LD  $@"
	$(Q)$(CXX) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(KITH_INTERNAL_LIBS) $(DEP_LIBS)

  fuzz-build: $(addprefix $(BIN)/fuzz_,$(FUZZ_TARGETS))
  fuzz-run: fuzz-build
	@scripts/fuzz.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
else
  # Re-enter in the fuzz tree with clang (a sub-make, so the flags above never
  # leak into build/).
  fuzz:
	@$(MAKE) -f mk/main.mk BUILD=build-fuzz KITH_FUZZ=1 CXX=$(FUZZ_CXX) CC=$(FUZZ_CC) \
	  FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz-run
endif

.PHONY: fuzz-build fuzz-run

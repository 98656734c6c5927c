# mk/toolchain.mk — compilers, flags, and where each dependency comes from.

CXX ?= g++
CC ?= gcc
AR ?= ar
# Optimisation: what ships (the libraries, kithd, kithctl, kithcat, libkith)
# is built with OPTFLAGS; the tests' own files with TEST_OPTFLAGS — they drive
# real daemons and wait on them, and -Og compiles them in about 60 % of the
# time of -O2 while keeping them debuggable. The code under test is the
# shipped build either way.
OPTFLAGS ?= -O2 -g
TEST_OPTFLAGS ?= -Og -g
CXXFLAGS += -std=c++20 -fPIC -Wall -Wextra -Wno-unused-parameter -pthread
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -fPIC -Wall -Wextra -pthread
LDFLAGS += -pthread

ifeq ($(SANITIZE),1)
  SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  OPTFLAGS := -O1 -g
  TEST_OPTFLAGS := -O1 -g
  CXXFLAGS += $(SAN_FLAGS)
  CFLAGS += $(SAN_FLAGS) -O1
  LDFLAGS += $(SAN_FLAGS)
endif

# wolfSSL: the tuned static build from scripts/deps.sh when present (its include
# path goes before /usr/include so the two configurations never mix), else the
# system library.
WOLFSSL_TUNED := $(wildcard $(CURDIR)/.deps/wolfssl/lib/libwolfssl.a)
ifneq ($(WOLFSSL_TUNED),)
  WOLFSSL_CPPFLAGS := -I$(CURDIR)/.deps/wolfssl/include -DKITH_WOLFSSL_TUNED=1
  WOLFSSL_LIBS := $(WOLFSSL_TUNED) -lm
else
  $(warning *** using the system wolfSSL (no AES-NI); run scripts/deps.sh for the tuned build ***)
  WOLFSSL_CPPFLAGS :=
  WOLFSSL_LIBS := -lwolfssl
endif
CPPFLAGS += $(WOLFSSL_CPPFLAGS)

DEP_LIBS := $(WOLFSSL_LIBS) -luv -lzmq -lsqlite3 -lsodium
TEST_LIBS := -lboost_unit_test_framework

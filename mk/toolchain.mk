# mk/toolchain.mk — compilers, flags, and where each dependency comes from.

CXX ?= g++
CC ?= gcc
AR ?= ar
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++20 -fPIC -Wall -Wextra -Wno-unused-parameter -pthread
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -fPIC -Wall -Wextra -pthread
LDFLAGS += -pthread

ifeq ($(SANITIZE),1)
  SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  CXXFLAGS += $(SAN_FLAGS) -O1
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

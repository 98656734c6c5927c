# bench/build.mk

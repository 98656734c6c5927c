# daemon/build.mk

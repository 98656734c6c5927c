# libclient/build.mk

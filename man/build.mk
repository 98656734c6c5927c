# man/build.mk

# policy/build.mk

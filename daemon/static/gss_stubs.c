/* GSSAPI stand-ins for the statically linked kithd (make static).
 *
 * Debian's libzmq.a is built with GSSAPI support, but MIT Kerberos ships no
 * static archives (libkrb5-dev has only .so files), so a fully static kithd
 * cannot link the real gss_* functions. kith never enables ZeroMQ's GSSAPI
 * mechanism: every socket is CURVE, and a ZMTP peer that asks for GSSAPI is
 * refused by libzmq at the mechanism check, before any gss_* call. These
 * definitions exist only to satisfy the linker; should one ever be reached, it
 * fails the way an unavailable Kerberos would (GSS_S_FAILURE), so libzmq
 * closes that connection. The regular (dynamic) kithd never uses this file.
 */
#include <stddef.h>
#include <stdint.h>

typedef uint32_t OM_uint32;
typedef void* gss_opaque;
typedef struct {
  OM_uint32 length;
  void* elements;
} gss_OID_desc;

#define KITH_GSS_S_FAILURE (13ul << 16)

static gss_OID_desc kith_gss_nt_hostbased = {0, NULL};
static gss_OID_desc kith_gss_nt_user = {0, NULL};
gss_OID_desc* GSS_C_NT_HOSTBASED_SERVICE = &kith_gss_nt_hostbased;
gss_OID_desc* GSS_C_NT_USER_NAME = &kith_gss_nt_user;

static OM_uint32 kith_gss_fail(OM_uint32* minor) {
  if (minor) *minor = 0;
  return KITH_GSS_S_FAILURE;
}

OM_uint32 gss_accept_sec_context(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_acquire_cred(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_delete_sec_context(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_display_name(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_import_name(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_init_sec_context(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_release_buffer(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_release_cred(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_release_name(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_unwrap(OM_uint32* m, ...) { return kith_gss_fail(m); }
OM_uint32 gss_wrap(OM_uint32* m, ...) { return kith_gss_fail(m); }

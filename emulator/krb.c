/* krb.c - Kerberos (SPNEGO) acceptor of the emulator, on GSS-API. */
#include "krb.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/buf.h"

struct emu_krb {
  gss_cred_id_t cred;
};

struct emu_krb_ctx {
  gss_ctx_id_t gss;
};

/* The GSS major/minor texts, e.g. "Request ticket server ... kvno 3 not found in keytab". */
static void gss_reason(OM_uint32 major, OM_uint32 minor, char *buf, size_t len)
{
  OM_uint32 msg_ctx = 0, min2;
  gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
  size_t used = 0;

  buf[0] = '\0';
  for(int pass = 0; pass < 2; pass++) {
    OM_uint32 code = pass ? minor : major;
    int type = pass ? GSS_C_MECH_CODE : GSS_C_GSS_CODE;
    if(pass && !minor)
      break;
    msg_ctx = 0;
    do {
      if(gss_display_status(&min2, code, type, GSS_C_NO_OID, &msg_ctx, &text) != GSS_S_COMPLETE)
        break;
      int n = snprintf(buf + used, len - used, "%s%.*s", used ? ": " : "", (int)text.length,
                       (const char *)text.value);
      gss_release_buffer(&min2, &text);
      if(n < 0 || (size_t)n >= len - used)
        return;
      used += (size_t)n;
    } while(msg_ctx);
  }
}

struct emu_krb *emu_krb_new(const char *keytab, char *err, size_t errlen)
{
  gss_key_value_element_desc el = {"keytab", keytab};
  gss_key_value_set_desc store = {1, &el};
  OM_uint32 major, minor;
  struct emu_krb *k = calloc(1, sizeof(*k));
  char why[300];

  if(!k) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
                                GSS_C_ACCEPT, &store, &k->cred, NULL, NULL);
  if(GSS_ERROR(major)) {
    gss_reason(major, minor, why, sizeof(why));
    snprintf(err, errlen, "cannot use the keytab %s: %s", keytab, why);
    free(k);
    return NULL;
  }
  return k;
}

void emu_krb_free(struct emu_krb *k)
{
  OM_uint32 minor;

  if(!k)
    return;
  gss_release_cred(&minor, &k->cred);
  free(k);
}

void emu_krb_ctx_free(struct emu_krb_ctx *ctx)
{
  OM_uint32 minor;

  if(!ctx)
    return;
  if(ctx->gss != GSS_C_NO_CONTEXT)
    gss_delete_sec_context(&minor, &ctx->gss, GSS_C_NO_BUFFER);
  free(ctx);
}

enum emu_krb_result emu_krb_accept(struct emu_krb *k, struct emu_krb_ctx **ctxp, const char *b64,
                                   char *principal, size_t plen, char *out, size_t outlen,
                                   char *reason, size_t rlen)
{
  struct exs_buf in, enc;
  gss_buffer_desc itok, otok = GSS_C_EMPTY_BUFFER, name = GSS_C_EMPTY_BUFFER;
  gss_name_t src = GSS_C_NO_NAME;
  OM_uint32 major, minor, min2;
  enum emu_krb_result result = EMU_KRB_BAD;
  struct emu_krb_ctx *ctx = *ctxp;

  principal[0] = out[0] = reason[0] = '\0';
  exs_buf_init(&in, 64 * 1024);
  exs_buf_init(&enc, outlen);
  while(*b64 == ' ')
    b64++;
  if(exs_base64_decode(&in, b64, strlen(b64)) != 0 || !in.len) {
    snprintf(reason, rlen, "the Negotiate token is not base64");
    goto out;
  }
  if(!ctx) {
    ctx = calloc(1, sizeof(*ctx));
    if(!ctx) {
      snprintf(reason, rlen, "out of memory");
      goto out;
    }
    ctx->gss = GSS_C_NO_CONTEXT;
    *ctxp = ctx;
  }
  itok.length = in.len;
  itok.value = in.data;
  major = gss_accept_sec_context(&minor, &ctx->gss, k->cred, &itok, GSS_C_NO_CHANNEL_BINDINGS, &src,
                                 NULL, &otok, NULL, NULL, NULL);
  if(otok.length) {
    if(exs_base64_encode(&enc, otok.value, otok.length) == 0 && enc.data)
      snprintf(out, outlen, "%s", enc.data);
  }
  if(GSS_ERROR(major)) {
    gss_reason(major, minor, reason, rlen);
    goto out;
  }
  if(major & GSS_S_CONTINUE_NEEDED) {
    result = EMU_KRB_CONTINUE;
    goto out;
  }
  if(gss_display_name(&minor, src, &name, NULL) != GSS_S_COMPLETE) {
    snprintf(reason, rlen, "cannot read the client's name");
    goto out;
  }
  snprintf(principal, plen, "%.*s", (int)name.length, (const char *)name.value);
  result = EMU_KRB_OK;
out:
  if(result != EMU_KRB_CONTINUE && *ctxp) {
    emu_krb_ctx_free(*ctxp); /* one round per authentication */
    *ctxp = NULL;
  }
  gss_release_buffer(&min2, &otok);
  gss_release_buffer(&min2, &name);
  if(src != GSS_C_NO_NAME)
    gss_release_name(&min2, &src);
  exs_buf_free(&in);
  exs_buf_free(&enc);
  return result;
}

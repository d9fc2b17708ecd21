/* ews_write.c - the streaming answer helpers every EWS handler and the
 * dispatcher use: the SOAP envelope, SOAP faults, response messages and the
 * texts of response codes. Appends to ctx->out; runs under the locks of ews.c. */
#include <stdio.h>
#include <string.h>

#include "ews_ops.h"

void ews_envelope_begin(struct exs_buf *o)
{
  exs_buf_adds(o, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                  "<s:Envelope xmlns:s=\"" EMU_NS_SOAP "\"><s:Header>"
                  "<h:ServerVersionInfo xmlns:h=\"" EMU_NS_T "\" MajorVersion=\"15\" "
                  "MinorVersion=\"1\" MajorBuildNumber=\"2507\" MinorBuildNumber=\"6\" "
                  "Version=\"V2017_07_11\"/></s:Header><s:Body>");
}

void ews_envelope_end(struct exs_buf *o)
{
  exs_buf_adds(o, "</s:Body></s:Envelope>");
}

void emu_ews_fault(struct emu_ews_ctx *ctx, const char *code, const char *text, long backoff_ms,
                   const char *smtp)
{
  struct exs_buf *o = ctx->out;

  exs_buf_reset(o);
  ews_envelope_begin(o);
  exs_buf_addf(o,
               "<s:Fault><faultcode xmlns:a=\"" EMU_NS_T "\">a:%s</faultcode>"
               "<faultstring xml:lang=\"en-US\">",
               code);
  exs_buf_add_xml(o, text);
  exs_buf_addf(o,
               "</faultstring><detail><e:ResponseCode xmlns:e=\"" EMU_NS_E "\">%s"
               "</e:ResponseCode><e:Message xmlns:e=\"" EMU_NS_E "\">",
               code);
  exs_buf_add_xml(o, text);
  exs_buf_adds(o, "</e:Message>");
  if(backoff_ms >= 0 || smtp) {
    exs_buf_adds(o, "<t:MessageXml xmlns:t=\"" EMU_NS_T "\">");
    if(backoff_ms >= 0)
      exs_buf_addf(o, "<t:Value Name=\"BackOffMilliseconds\">%ld</t:Value>", backoff_ms);
    if(smtp) {
      exs_buf_adds(o, "<t:Value Name=\"SmtpAddress\">");
      exs_buf_add_xml(o, smtp);
      exs_buf_adds(o, "</t:Value>");
    }
    exs_buf_adds(o, "</t:MessageXml>");
  }
  exs_buf_adds(o, "</detail></s:Fault>");
  ews_envelope_end(o);
  ctx->status = 500;
  snprintf(ctx->response_code, sizeof(ctx->response_code), "%s", code);
}

/* ---- response message helpers ---- */

void ews_response_begin(struct emu_ews_ctx *ctx, const char *op)
{
  exs_buf_addf(
      ctx->out,
      "<m:%sResponse xmlns:m=\"" EMU_NS_M "\" xmlns:t=\"" EMU_NS_T "\"><m:ResponseMessages>", op);
}

void ews_response_end(struct emu_ews_ctx *ctx, const char *op)
{
  exs_buf_addf(ctx->out, "</m:ResponseMessages></m:%sResponse>", op);
  if(!ctx->response_code[0])
    snprintf(ctx->response_code, sizeof(ctx->response_code), "NoError");
}

void ews_msg_ok(struct emu_ews_ctx *ctx, const char *op)
{
  exs_buf_addf(ctx->out,
               "<m:%sResponseMessage ResponseClass=\"Success\">"
               "<m:ResponseCode>NoError</m:ResponseCode>",
               op);
}

void ews_msg_error(struct emu_ews_ctx *ctx, const char *op, const char *code)
{
  const char *text = ews_code_text(code);

  exs_buf_addf(ctx->out, "<m:%sResponseMessage ResponseClass=\"Error\"><m:MessageText>", op);
  exs_buf_add_xml(ctx->out, text);
  exs_buf_addf(ctx->out,
               "</m:MessageText><m:ResponseCode>%s</m:ResponseCode>"
               "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>",
               code);
  if(!ctx->response_code[0] || strcmp(ctx->response_code, "NoError") == 0)
    snprintf(ctx->response_code, sizeof(ctx->response_code), "%s", code);
}

void ews_msg_end(struct emu_ews_ctx *ctx, const char *op)
{
  exs_buf_addf(ctx->out, "</m:%sResponseMessage>", op);
}

const char *ews_code_text(const char *code)
{
  static const struct {
    const char *code, *text;
  } texts[] = {
      {"ErrorFolderNotFound", "The specified folder could not be found in the store."},
      {"ErrorItemNotFound", "The specified object was not found in the store."},
      {"ErrorAccessDenied", "Access is denied. Check credentials and try again."},
      {"ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."},
      {"ErrorInvalidIdMalformed", "Id is malformed."},
      {"ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."},
      {"ErrorFolderExists", "A folder with the specified name already exists."},
      {"ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted."},
      {"ErrorIrresolvableConflict", "The send or update operation could not be performed because "
                                    "the change key passed in the request does not match the "
                                    "current change key for the item."},
      {"ErrorInvalidOperation", "The operation is not valid."},
      {"ErrorInvalidRecipients", "At least one recipient isn't valid."},
  };

  for(size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
    if(strcmp(texts[i].code, code) == 0)
      return texts[i].text;
  return "The request failed.";
}

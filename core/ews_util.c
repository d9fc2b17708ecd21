/* ews_util.c - utility operations: ResolveNames, ConvertId. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/ews.h"
#include "exsync/xml.h"
#include "ews_internal.h"

/* ---- ResolveNames ---- */

int exs_ews_build_resolve_names(struct exs_buf *b, const struct exs_ews_context *ctx,
                                const char *entry)
{
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:ResolveNames ReturnFullContactData=\"true\" "
                       "SearchScope=\"ActiveDirectory\"><m:UnresolvedEntry>");
  r |= exs_buf_add_xml(b, entry);
  r |= exs_buf_adds(b, "</m:UnresolvedEntry></m:ResolveNames>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_resolve_names(const char *body, size_t len, long http_status,
                                struct exs_ews_resolve *out, struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr msg, set, res;
  char cls[16];
  int result = -1;

  memset(out, 0, sizeof(*out));
  out->total = -1;
  if(exs_ews__first_message(body, len, http_status, "ResolveNames", true, &doc, &msg, err))
    goto out;
  exs_xml_attr(msg, "ResponseClass", cls, sizeof(cls));
  out->multiple = !strcmp(cls, "Warning");
  set = exs_xml_child(msg, EXS_NS_MSG, "ResolutionSet");
  out->total = exs_ews__long_attr(set, "TotalItemsInView");
  for(res = exs_xml_child(set, EXS_NS_TYPES, "Resolution"); res && out->n < EXS_EWS_MAX_RESOLUTIONS;
      res = exs_xml_next(res, EXS_NS_TYPES, "Resolution")) {
    struct exs_ews_resolution *r = &out->r[out->n++];
    xmlNodePtr mbx = exs_xml_child(res, EXS_NS_TYPES, "Mailbox");
    exs_ews__text(mbx, "Name", r->mailbox.name, sizeof(r->mailbox.name));
    exs_ews__text(mbx, "EmailAddress", r->mailbox.email, sizeof(r->mailbox.email));
    exs_ews__text(mbx, "RoutingType", r->mailbox.routing_type, sizeof(r->mailbox.routing_type));
    exs_ews__text(mbx, "MailboxType", r->mailbox.mailbox_type, sizeof(r->mailbox.mailbox_type));
    exs_ews__text(exs_xml_child(res, EXS_NS_TYPES, "Contact"), "DisplayName", r->display_name,
                  sizeof(r->display_name));
  }
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}

/* ---- ConvertId ---- */

int exs_ews_build_convert_id(struct exs_buf *b, const struct exs_ews_context *ctx,
                             const char *destination_format, const struct exs_ews_alternate_id *ids,
                             size_t n)
{
  size_t i;
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:ConvertId DestinationFormat=\"");
  r |= exs_buf_add_xml(b, destination_format ? destination_format : "EwsId");
  r |= exs_buf_adds(b, "\"><m:SourceIds>");
  for(i = 0; i < n; i++) {
    r |= exs_buf_adds(b, "<t:AlternateId Format=\"");
    r |= exs_buf_add_xml(b, ids[i].format ? ids[i].format : "EwsLegacyId");
    r |= exs_buf_adds(b, "\" Id=\"");
    r |= exs_buf_add_xml(b, ids[i].id);
    r |= exs_buf_adds(b, "\" Mailbox=\"");
    r |= exs_buf_add_xml(b, ids[i].mailbox ? ids[i].mailbox : "");
    r |= exs_buf_adds(b, "\"/>");
  }
  r |= exs_buf_adds(b, "</m:SourceIds></m:ConvertId>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_convert_id(const char *body, size_t len, long http_status,
                             struct exs_ews_converted_id *out, size_t n, struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr messages, msg;
  size_t i = 0;
  int result = -1;

  memset(out, 0, n * sizeof(*out));
  if(exs_ews_parse_envelope(body, len, http_status, "ConvertId", &doc, &messages, err))
    goto out;
  for(msg = exs_xml_child(messages, EXS_NS_MSG, "ConvertIdResponseMessage"); msg && i < n;
      msg = exs_xml_next(msg, EXS_NS_MSG, "ConvertIdResponseMessage"), i++) {
    xmlNodePtr alt;
    if(exs_ews_message_status(msg, &out[i].err))
      continue;
    out[i].ok = true;
    alt = exs_xml_child(msg, EXS_NS_MSG, "AlternateId");
    exs_xml_attr(alt, "Format", out[i].format, sizeof(out[i].format));
    exs_xml_attr(alt, "Id", out[i].id, sizeof(out[i].id));
    exs_xml_attr(alt, "Mailbox", out[i].mailbox, sizeof(out[i].mailbox));
  }
  if(i < n) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "ConvertId answered %zu ids for %zu requested", i, n);
    goto out;
  }
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}

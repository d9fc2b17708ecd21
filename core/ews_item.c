/* ews_item.c - item operations: FindItem, GetItem, CreateItem, UpdateItem,
 * MoveItem, DeleteItem, SyncFolderItems; the item parser they share. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/clock.h"
#include "exsync/ews.h"
#include "exsync/xml.h"
#include "ews_internal.h"

const char *exs_ews_item_kind_name(enum exs_ews_item_kind k)
{
  switch(k) {
  case EXS_EWS_ITEM_MESSAGE:
    return "Message";
  case EXS_EWS_ITEM_CALENDAR:
    return "CalendarItem";
  case EXS_EWS_ITEM_CONTACT:
    return "Contact";
  case EXS_EWS_ITEM_TASK:
    return "Task";
  default:
    return "Item";
  }
}

void exs_ews_item_clear(struct exs_ews_item *it)
{
  if(!it)
    return;
  free(it->body);
  free(it->mime);
  it->body = NULL;
  it->mime = NULL;
  it->mime_len = 0;
}

void exs_ews_items_free(struct exs_ews_item *items, size_t n)
{
  size_t i;

  if(!items)
    return;
  for(i = 0; i < n; i++)
    exs_ews_item_clear(&items[i]);
  free(items);
}

void exs_ews_item_page_free(struct exs_ews_item_page *p)
{
  if(!p)
    return;
  exs_ews_items_free(p->items, p->n);
  memset(p, 0, sizeof(*p));
}

void exs_ews_item_sync_reset(struct exs_ews_item_sync *s)
{
  size_t i;

  for(i = 0; i < s->n; i++)
    exs_ews_item_clear(&s->changes[i].item);
  free(s->sync_state);
  s->sync_state = NULL;
  s->includes_last = false;
  s->n = 0;
}

void exs_ews_item_sync_free(struct exs_ews_item_sync *s)
{
  if(!s)
    return;
  exs_ews_item_sync_reset(s);
  free(s->changes);
  memset(s, 0, sizeof(*s));
}

/* ---- parsing ---- */

static void parse_mailbox(xmlNodePtr mbx, struct exs_ews_mailbox *m)
{
  exs_ews__text(mbx, "Name", m->name, sizeof(m->name));
  exs_ews__text(mbx, "EmailAddress", m->email, sizeof(m->email));
  exs_ews__text(mbx, "RoutingType", m->routing_type, sizeof(m->routing_type));
  exs_ews__text(mbx, "MailboxType", m->mailbox_type, sizeof(m->mailbox_type));
}

static void parse_recipients(xmlNodePtr list, struct exs_ews_item *it)
{
  xmlNodePtr c;

  for(c = list->children; c && it->n_to < EXS_EWS_MAX_RECIPIENTS; c = c->next) {
    if(exs_xml_is(c, EXS_NS_TYPES, "Mailbox"))
      parse_mailbox(c, &it->to[it->n_to++]);
    else if(exs_xml_is(c, EXS_NS_TYPES, "Attendee"))
      parse_mailbox(exs_xml_child(c, EXS_NS_TYPES, "Mailbox"), &it->to[it->n_to++]);
  }
}

static void parse_mime(xmlNodePtr node, struct exs_ews_item *it)
{
  xmlChar *s = xmlNodeGetContent(node);
  struct exs_buf clean, out;
  const char *p;

  exs_buf_init(&clean, EXS_XML_MAX_BYTES);
  exs_buf_init(&out, EXS_XML_MAX_BYTES);
  for(p = s ? (const char *)s : ""; *p; p++)
    if(!isspace((unsigned char)*p) && exs_buf_add(&clean, p, 1))
      break;
  if(clean.len && exs_base64_decode(&out, clean.data, clean.len) == 0) {
    if(!out.data)
      exs_buf_adds(&out, "");
    it->mime_len = out.len;
    it->mime = (unsigned char *)exs_buf_steal(&out);
  }
  xmlFree(s);
  exs_buf_free(&clean);
  exs_buf_free(&out);
}

/* Fill it from an item element (t:Message, t:CalendarItem, ...). */
static void parse_item_node(xmlNodePtr node, struct exs_ews_item *it)
{
  xmlNodePtr c;

  it->is_read = it->has_attachments = -1;
  if(!node)
    return;
  snprintf(it->kind, sizeof(it->kind), "%s", (const char *)node->name);
  for(c = node->children; c; c = c->next) {
    const char *n;
    if(c->type != XML_ELEMENT_NODE || !exs_xml_is(c, EXS_NS_TYPES, (const char *)c->name))
      continue;
    n = (const char *)c->name;
    if(!strcmp(n, "ItemId")) {
      exs_xml_attr(c, "Id", it->id, sizeof(it->id));
      exs_xml_attr(c, "ChangeKey", it->change_key, sizeof(it->change_key));
    }
    else if(!strcmp(n, "ParentFolderId"))
      exs_xml_attr(c, "Id", it->parent_folder_id, sizeof(it->parent_folder_id));
    else if(!strcmp(n, "ItemClass"))
      exs_xml_text(c, it->item_class, sizeof(it->item_class));
    else if(!strcmp(n, "Subject"))
      exs_xml_text(c, it->subject, sizeof(it->subject));
    else if(!strcmp(n, "DateTimeReceived")) {
      exs_xml_text(c, it->date_received, sizeof(it->date_received));
      if(exs_time_parse(it->date_received, &it->received))
        it->received = 0;
    }
    else if(!strcmp(n, "LastModifiedTime"))
      exs_xml_text(c, it->last_modified, sizeof(it->last_modified));
    else if(!strcmp(n, "InternetMessageId"))
      exs_xml_text(c, it->internet_message_id, sizeof(it->internet_message_id));
    else if(!strcmp(n, "IsRead"))
      it->is_read = exs_ews__bool_text(c);
    else if(!strcmp(n, "HasAttachments"))
      it->has_attachments = exs_ews__bool_text(c);
    else if(!strcmp(n, "From"))
      parse_mailbox(exs_xml_child(c, EXS_NS_TYPES, "Mailbox"), &it->from);
    else if(!strcmp(n, "ToRecipients") || !strcmp(n, "RequiredAttendees"))
      parse_recipients(c, it);
    else if(!strcmp(n, "Categories")) {
      xmlNodePtr s;
      for(s = exs_xml_child(c, EXS_NS_TYPES, "String");
          s && it->n_categories < EXS_EWS_MAX_CATEGORIES;
          s = exs_xml_next(s, EXS_NS_TYPES, "String"))
        exs_xml_text(s, it->categories[it->n_categories++], sizeof(it->categories[0]));
    }
    else if(!strcmp(n, "Body")) {
      xmlChar *s = xmlNodeGetContent(c);
      exs_xml_attr(c, "BodyType", it->body_type, sizeof(it->body_type));
      free(it->body);
      it->body = strdup(s ? (const char *)s : "");
      xmlFree(s);
    }
    else if(!strcmp(n, "MimeContent") && !it->mime)
      parse_mime(c, it);
    else if(!strcmp(n, "Start") || !strcmp(n, "StartDate"))
      exs_xml_text(c, it->start, sizeof(it->start));
    else if(!strcmp(n, "End") || !strcmp(n, "DueDate"))
      exs_xml_text(c, it->end, sizeof(it->end));
    else if(!strcmp(n, "Location"))
      exs_xml_text(c, it->location, sizeof(it->location));
    else if(!strcmp(n, "Status"))
      exs_xml_text(c, it->status, sizeof(it->status));
    else if(!strcmp(n, "GivenName"))
      exs_xml_text(c, it->given_name, sizeof(it->given_name));
    else if(!strcmp(n, "Surname"))
      exs_xml_text(c, it->surname, sizeof(it->surname));
    else if(!strcmp(n, "CompanyName"))
      exs_xml_text(c, it->company, sizeof(it->company));
    else if(!strcmp(n, "EmailAddresses")) {
      xmlNodePtr e;
      char key[32];
      for(e = exs_xml_child(c, EXS_NS_TYPES, "Entry"); e;
          e = exs_xml_next(e, EXS_NS_TYPES, "Entry"))
        if(exs_xml_attr(e, "Key", key, sizeof(key)) && !strcmp(key, "EmailAddress1"))
          exs_xml_text(e, it->email1, sizeof(it->email1));
    }
    else if(!strcmp(n, "ExtendedProperty") && it->n_ext < EXS_EWS_MAX_EXT)
      exs_ews__parse_extvalue(c, &it->ext[it->n_ext++]);
  }
}

/* Walk the ResponseMessages of op into per-entry slots; fn parses one
 * Success/Warning message into slot i. */
typedef void (*msg_fn)(xmlNodePtr msg, void *slot);

static int parse_batch(const char *op, const char *body, size_t len, long http_status, void *out,
                       size_t elem_size, size_t n, size_t ok_off, size_t err_off, msg_fn fn,
                       struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr messages, msg;
  size_t i = 0;
  int result = -1;

  if(exs_ews_parse_envelope(body, len, http_status, op, &doc, &messages, err))
    goto out;
  for(msg = exs_xml_first_element(messages); msg && i < n; msg = msg->next) {
    char *slot = (char *)out + i * elem_size;
    if(msg->type != XML_ELEMENT_NODE)
      continue;
    if(exs_ews_message_status(msg, (struct exs_error *)(slot + err_off)) == 0) {
      *(bool *)(slot + ok_off) = true;
      fn(msg, slot);
    }
    i++;
  }
  if(i < n) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "%s answered %zu messages for %zu requested", op, i, n);
    goto out;
  }
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}

static void item_msg(xmlNodePtr msg, void *slot)
{
  parse_item_node(exs_xml_first_element(exs_xml_child(msg, EXS_NS_MSG, "Items")), slot);
}

static void result_msg(xmlNodePtr msg, void *slot)
{
  struct exs_ews_item_result *r = slot;
  xmlNodePtr item = exs_xml_first_element(exs_xml_child(msg, EXS_NS_MSG, "Items"));
  xmlNodePtr id;
  xmlNodePtr conflicts = exs_xml_child(msg, EXS_NS_MSG, "ConflictResults");

  if(item) {
    snprintf(r->kind, sizeof(r->kind), "%s", (const char *)item->name);
    id = exs_xml_child(item, EXS_NS_TYPES, "ItemId");
    exs_xml_attr(id, "Id", r->id, sizeof(r->id));
    exs_xml_attr(id, "ChangeKey", r->change_key, sizeof(r->change_key));
  }
  if(conflicts)
    r->conflicts = exs_ews__long_child(conflicts, "Count");
}

static int parse_results(const char *op, const char *body, size_t len, long http_status,
                         struct exs_ews_item_result *out, size_t n, struct exs_error *err)
{
  size_t i;

  memset(out, 0, n * sizeof(*out));
  for(i = 0; i < n; i++)
    out[i].conflicts = -1;
  return parse_batch(op, body, len, http_status, out, sizeof(*out), n,
                     offsetof(struct exs_ews_item_result, ok),
                     offsetof(struct exs_ews_item_result, err), result_msg, err);
}

/* ---- shared writers ---- */

static int write_item_ids(struct exs_buf *b, const char *const *ids, size_t n)
{
  size_t i;
  int r = 0;

  r |= exs_buf_adds(b, "<m:ItemIds>");
  for(i = 0; i < n; i++) {
    r |= exs_buf_adds(b, "<t:ItemId Id=\"");
    r |= exs_buf_add_xml(b, ids[i]);
    r |= exs_buf_adds(b, "\"/>");
  }
  r |= exs_buf_adds(b, "</m:ItemIds>");
  return r ? -1 : 0;
}

static int write_shape(struct exs_buf *b, const char *elem, bool mime, const char *body_type,
                       const char *const *fields, size_t n_fields,
                       const struct exs_ews_extprop *ext, size_t n_ext)
{
  size_t i;
  int r = 0;

  r |= exs_buf_addf(b, "<m:%s><t:BaseShape>IdOnly</t:BaseShape>", elem);
  if(mime)
    r |= exs_buf_adds(b, "<t:IncludeMimeContent>true</t:IncludeMimeContent>");
  if(body_type) {
    r |= exs_buf_adds(b, "<t:BodyType>");
    r |= exs_buf_add_xml(b, body_type);
    r |= exs_buf_adds(b, "</t:BodyType>");
  }
  if(n_fields + n_ext) {
    r |= exs_buf_adds(b, "<t:AdditionalProperties>");
    for(i = 0; i < n_fields; i++) {
      r |= exs_buf_adds(b, "<t:FieldURI FieldURI=\"");
      r |= exs_buf_add_xml(b, fields[i]);
      r |= exs_buf_adds(b, "\"/>");
    }
    for(i = 0; i < n_ext; i++)
      r |= exs_ews_write_extprop_uri(b, &ext[i]);
    r |= exs_buf_adds(b, "</t:AdditionalProperties>");
  }
  r |= exs_buf_addf(b, "</m:%s>", elem);
  return r ? -1 : 0;
}

static int write_text_elem(struct exs_buf *b, const char *name, const char *value)
{
  int r = 0;

  if(!value)
    return 0;
  r |= exs_buf_addf(b, "<t:%s>", name);
  r |= exs_buf_add_xml(b, value);
  r |= exs_buf_addf(b, "</t:%s>", name);
  return r ? -1 : 0;
}

static int write_field_uri(struct exs_buf *b, const struct exs_ews_field_set *f)
{
  int r = 0;

  if(f->ext)
    return exs_ews_write_extprop_uri(b, f->ext);
  r |= exs_buf_adds(b, "<t:FieldURI FieldURI=\"");
  r |= exs_buf_add_xml(b, f->field_uri ? f->field_uri : "");
  r |= exs_buf_adds(b, "\"/>");
  return r ? -1 : 0;
}

static int write_categories(struct exs_buf *b, const char *const *cats, size_t n,
                            const char *joined)
{
  int r = 0;
  size_t i;

  r |= exs_buf_adds(b, "<t:Categories>");
  for(i = 0; i < n; i++)
    r |= write_text_elem(b, "String", cats[i]);
  while(joined && *joined) {
    size_t l = strcspn(joined, "\n");
    r |= exs_buf_adds(b, "<t:String>");
    {
      char *one = strndup(joined, l);
      r |= one ? exs_buf_add_xml(b, one) : -1;
      free(one);
    }
    r |= exs_buf_adds(b, "</t:String>");
    joined += l;
    if(*joined == '\n')
      joined++;
  }
  r |= exs_buf_adds(b, "</t:Categories>");
  return r ? -1 : 0;
}

static int write_body(struct exs_buf *b, const char *body_type, const char *body)
{
  int r = 0;

  r |= exs_buf_adds(b, "<t:Body BodyType=\"");
  r |= exs_buf_add_xml(b, body_type ? body_type : "Text");
  r |= exs_buf_adds(b, "\">");
  r |= exs_buf_add_xml(b, body);
  r |= exs_buf_adds(b, "</t:Body>");
  return r ? -1 : 0;
}

static int write_mailbox(struct exs_buf *b, const char *address)
{
  int r = 0;

  r |= exs_buf_adds(b, "<t:Mailbox><t:EmailAddress>");
  r |= exs_buf_add_xml(b, address);
  r |= exs_buf_adds(b, "</t:EmailAddress></t:Mailbox>");
  return r ? -1 : 0;
}

/* ---- FindItem ---- */

static const char *restrict_name(enum exs_ews_restrict_op op)
{
  switch(op) {
  case EXS_EWS_IS_NOT_EQUAL_TO:
    return "IsNotEqualTo";
  case EXS_EWS_IS_GREATER_THAN:
    return "IsGreaterThan";
  case EXS_EWS_IS_GREATER_THAN_OR_EQUAL_TO:
    return "IsGreaterThanOrEqualTo";
  case EXS_EWS_IS_LESS_THAN:
    return "IsLessThan";
  case EXS_EWS_CONTAINS:
    return "Contains";
  default:
    return "IsEqualTo";
  }
}

static int write_restriction(struct exs_buf *b, const struct exs_ews_restriction *rs)
{
  struct exs_ews_field_set f = {rs->field_uri, rs->ext, NULL};
  int r = 0;

  if(rs->op == EXS_EWS_CONTAINS) {
    r |= exs_buf_adds(b, "<t:Contains ContainmentMode=\"Substring\" "
                         "ContainmentComparison=\"IgnoreCase\">");
    r |= write_field_uri(b, &f);
    r |= exs_buf_adds(b, "<t:Constant Value=\"");
    r |= exs_buf_add_xml(b, rs->value ? rs->value : "");
    r |= exs_buf_adds(b, "\"/></t:Contains>");
    return r ? -1 : 0;
  }
  r |= exs_buf_addf(b, "<t:%s>", restrict_name(rs->op));
  r |= write_field_uri(b, &f);
  r |= exs_buf_adds(b, "<t:FieldURIOrConstant><t:Constant Value=\"");
  r |= exs_buf_add_xml(b, rs->value ? rs->value : "");
  r |= exs_buf_addf(b, "\"/></t:FieldURIOrConstant></t:%s>", restrict_name(rs->op));
  return r ? -1 : 0;
}

int exs_ews_build_find_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                            const struct exs_ews_find_item_req *req)
{
  size_t i;
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:FindItem Traversal=\"Shallow\">");
  r |= write_shape(b, "ItemShape", false, NULL, req->fields, req->n_fields, req->ext, req->n_ext);
  r |= exs_buf_addf(b,
                    "<m:IndexedPageItemView MaxEntriesReturned=\"%d\" Offset=\"%d\" "
                    "BasePoint=\"Beginning\"/>",
                    req->max_entries > 0 ? req->max_entries : 100,
                    req->offset > 0 ? req->offset : 0);
  if(req->n_restrictions) {
    r |= exs_buf_adds(b, "<m:Restriction>");
    if(req->n_restrictions > 1)
      r |= exs_buf_adds(b, "<t:And>");
    for(i = 0; i < req->n_restrictions; i++)
      r |= write_restriction(b, &req->restrictions[i]);
    if(req->n_restrictions > 1)
      r |= exs_buf_adds(b, "</t:And>");
    r |= exs_buf_adds(b, "</m:Restriction>");
  }
  if(req->sort_field) {
    r |= exs_buf_addf(b, "<m:SortOrder><t:FieldOrder Order=\"%s\"><t:FieldURI FieldURI=\"",
                      req->sort_descending ? "Descending" : "Ascending");
    r |= exs_buf_add_xml(b, req->sort_field);
    r |= exs_buf_adds(b, "\"/></t:FieldOrder></m:SortOrder>");
  }
  r |= exs_buf_adds(b, "<m:ParentFolderIds>");
  r |= exs_ews_write_folder_ref(b, &req->parent);
  r |= exs_buf_adds(b, "</m:ParentFolderIds></m:FindItem>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

/* One item of a FindItem answer. */
static void find_item_entry(xmlNodePtr node, void *entry)
{
  struct exs_ews_item *it = entry;

  it->ok = true;
  parse_item_node(node, it);
}

int exs_ews_parse_find_item(const char *body, size_t len, long http_status,
                            struct exs_ews_item_page *out, struct exs_error *err)
{
  struct exs_ews__page page;
  void *items;

  int rc;

  memset(out, 0, sizeof(*out));
  rc = exs_ews__parse_page(body, len, http_status, "FindItem", "Items", sizeof(*out->items),
                           find_item_entry, &page, &items, &out->n, err);
  out->items = items; /* NULL after a failure; the page's numbers then -1 */
  out->next_offset = page.next_offset;
  out->total = page.total;
  out->includes_last = page.includes_last;
  return rc;
}

/* ---- GetItem ---- */

int exs_ews_build_get_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                           const struct exs_ews_get_item_req *req)
{
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:GetItem>");
  r |= write_shape(b, "ItemShape", req->mime, req->body_type, req->fields, req->n_fields, req->ext,
                   req->n_ext);
  r |= write_item_ids(b, req->ids, req->n_ids);
  r |= exs_buf_adds(b, "</m:GetItem>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_get_item(const char *body, size_t len, long http_status, struct exs_ews_item *out,
                           size_t n, struct exs_error *err)
{
  size_t i;
  int result;

  memset(out, 0, n * sizeof(*out));
  for(i = 0; i < n; i++)
    out[i].is_read = out[i].has_attachments = -1;
  result = parse_batch("GetItem", body, len, http_status, out, sizeof(*out), n,
                       offsetof(struct exs_ews_item, ok), offsetof(struct exs_ews_item, err),
                       item_msg, err);
  if(result)
    for(i = 0; i < n; i++)
      exs_ews_item_clear(&out[i]);
  return result;
}

/* ---- CreateItem ---- */

static int write_new_item(struct exs_buf *b, const struct exs_ews_new_item *it)
{
  const char *kind = exs_ews_item_kind_name(it->kind);
  size_t i;
  int r = 0;

  r |= exs_buf_addf(b, "<t:%s>", kind);
  if(it->kind == EXS_EWS_ITEM_MESSAGE && it->mime) {
    r |= exs_buf_adds(b, "<t:MimeContent CharacterSet=\"UTF-8\">");
    r |= exs_base64_encode(b, (const unsigned char *)it->mime, it->mime_len);
    r |= exs_buf_adds(b, "</t:MimeContent>");
  }
  r |= write_text_elem(b, "Subject", it->subject);
  if(it->body)
    r |= write_body(b, it->body_type, it->body);
  if(it->n_categories)
    r |= write_categories(b, it->categories, it->n_categories, NULL);
  for(i = 0; i < it->n_ext; i++)
    r |= exs_ews_write_extprop_value(b, &it->ext[i].prop, it->ext[i].value);
  switch(it->kind) {
  case EXS_EWS_ITEM_MESSAGE:
    if(it->n_to) {
      r |= exs_buf_adds(b, "<t:ToRecipients>");
      for(i = 0; i < it->n_to; i++)
        r |= write_mailbox(b, it->to[i]);
      r |= exs_buf_adds(b, "</t:ToRecipients>");
    }
    if(it->from) {
      r |= exs_buf_adds(b, "<t:From>");
      r |= write_mailbox(b, it->from);
      r |= exs_buf_adds(b, "</t:From>");
    }
    break;
  case EXS_EWS_ITEM_CALENDAR:
    r |= write_text_elem(b, "Start", it->start);
    r |= write_text_elem(b, "End", it->end);
    r |= write_text_elem(b, "Location", it->location);
    if(it->n_to) {
      r |= exs_buf_adds(b, "<t:RequiredAttendees>");
      for(i = 0; i < it->n_to; i++) {
        r |= exs_buf_adds(b, "<t:Attendee>");
        r |= write_mailbox(b, it->to[i]);
        r |= exs_buf_adds(b, "</t:Attendee>");
      }
      r |= exs_buf_adds(b, "</t:RequiredAttendees>");
    }
    break;
  case EXS_EWS_ITEM_CONTACT:
    r |= write_text_elem(b, "GivenName", it->given_name);
    r |= write_text_elem(b, "CompanyName", it->company);
    if(it->email) {
      r |= exs_buf_adds(b, "<t:EmailAddresses><t:Entry Key=\"EmailAddress1\">");
      r |= exs_buf_add_xml(b, it->email);
      r |= exs_buf_adds(b, "</t:Entry></t:EmailAddresses>");
    }
    r |= write_text_elem(b, "Surname", it->surname);
    break;
  case EXS_EWS_ITEM_TASK:
    r |= write_text_elem(b, "DueDate", it->end);
    r |= write_text_elem(b, "StartDate", it->start);
    r |= write_text_elem(b, "Status", it->status);
    break;
  default:
    break;
  }
  r |= exs_buf_addf(b, "</t:%s>", kind);
  return r ? -1 : 0;
}

int exs_ews_build_create_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                              const struct exs_ews_create_item_req *req)
{
  bool any_message = false, any_other = false;
  size_t i;
  int r = 0;

  for(i = 0; i < req->n; i++) {
    if(req->items[i].kind == EXS_EWS_ITEM_MESSAGE)
      any_message = true;
    else
      any_other = true;
  }
  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:CreateItem");
  if(any_message) {
    r |= exs_buf_adds(b, " MessageDisposition=\"");
    r |= exs_buf_add_xml(b, req->disposition ? req->disposition : "SaveOnly");
    r |= exs_buf_adds(b, "\"");
  }
  if(any_other)
    r |= exs_buf_adds(b, " SendMeetingInvitations=\"SendToNone\"");
  r |= exs_buf_adds(b, ">");
  if(req->saved_folder) {
    r |= exs_buf_adds(b, "<m:SavedItemFolderId>");
    r |= exs_ews_write_folder_ref(b, req->saved_folder);
    r |= exs_buf_adds(b, "</m:SavedItemFolderId>");
  }
  r |= exs_buf_adds(b, "<m:Items>");
  for(i = 0; i < req->n; i++)
    r |= write_new_item(b, &req->items[i]);
  r |= exs_buf_adds(b, "</m:Items></m:CreateItem>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_create_item(const char *body, size_t len, long http_status,
                              struct exs_ews_item_result *out, size_t n, struct exs_error *err)
{
  return parse_results("CreateItem", body, len, http_status, out, n, err);
}

/* ---- UpdateItem ---- */

static int write_field_value(struct exs_buf *b, const struct exs_ews_field_set *f)
{
  const char *local;

  if(f->ext)
    return exs_ews_write_extprop_value(b, f->ext, f->value);
  local = f->field_uri ? strchr(f->field_uri, ':') : NULL;
  local = local ? local + 1 : (f->field_uri ? f->field_uri : "Subject");
  if(!strcmp(local, "Categories"))
    return write_categories(b, NULL, 0, f->value);
  if(!strcmp(local, "Body"))
    return write_body(b, "Text", f->value);
  return write_text_elem(b, local, f->value);
}

int exs_ews_build_update_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                              const char *conflict_resolution,
                              const struct exs_ews_item_change *changes, size_t n)
{
  bool any_message = false, any_calendar = false;
  size_t i, j;
  int r = 0;

  for(i = 0; i < n; i++) {
    any_message |= changes[i].kind == EXS_EWS_ITEM_MESSAGE;
    any_calendar |= changes[i].kind == EXS_EWS_ITEM_CALENDAR;
  }
  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:UpdateItem");
  if(any_message)
    r |= exs_buf_adds(b, " MessageDisposition=\"SaveOnly\"");
  r |= exs_buf_adds(b, " ConflictResolution=\"");
  r |= exs_buf_add_xml(b, conflict_resolution ? conflict_resolution : "AutoResolve");
  r |= exs_buf_adds(b, "\"");
  if(any_calendar)
    r |= exs_buf_adds(b, " SendMeetingInvitationsOrCancellations=\"SendToNone\"");
  r |= exs_buf_adds(b, "><m:ItemChanges>");
  for(i = 0; i < n; i++) {
    const char *kind = exs_ews_item_kind_name(changes[i].kind);
    r |= exs_buf_adds(b, "<t:ItemChange><t:ItemId Id=\"");
    r |= exs_buf_add_xml(b, changes[i].id);
    if(changes[i].change_key) {
      r |= exs_buf_adds(b, "\" ChangeKey=\"");
      r |= exs_buf_add_xml(b, changes[i].change_key);
    }
    r |= exs_buf_adds(b, "\"/><t:Updates>");
    for(j = 0; j < changes[i].n_sets; j++) {
      const struct exs_ews_field_set *f = &changes[i].sets[j];
      if(!f->value) {
        r |= exs_buf_adds(b, "<t:DeleteItemField>");
        r |= write_field_uri(b, f);
        r |= exs_buf_adds(b, "</t:DeleteItemField>");
        continue;
      }
      r |= exs_buf_adds(b, "<t:SetItemField>");
      r |= write_field_uri(b, f);
      r |= exs_buf_addf(b, "<t:%s>", kind);
      r |= write_field_value(b, f);
      r |= exs_buf_addf(b, "</t:%s></t:SetItemField>", kind);
    }
    r |= exs_buf_adds(b, "</t:Updates></t:ItemChange>");
  }
  r |= exs_buf_adds(b, "</m:ItemChanges></m:UpdateItem>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_update_item(const char *body, size_t len, long http_status,
                              struct exs_ews_item_result *out, size_t n, struct exs_error *err)
{
  return parse_results("UpdateItem", body, len, http_status, out, n, err);
}

/* ---- MoveItem / DeleteItem ---- */

int exs_ews_build_move_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                            const struct exs_ews_folder_ref *to, const char *const *ids, size_t n)
{
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:MoveItem><m:ToFolderId>");
  r |= exs_ews_write_folder_ref(b, to);
  r |= exs_buf_adds(b, "</m:ToFolderId>");
  r |= write_item_ids(b, ids, n);
  r |= exs_buf_adds(b, "</m:MoveItem>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_move_item(const char *body, size_t len, long http_status,
                            struct exs_ews_item_result *out, size_t n, struct exs_error *err)
{
  return parse_results("MoveItem", body, len, http_status, out, n, err);
}

int exs_ews_build_delete_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                              const char *delete_type, const char *const *ids, size_t n)
{
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:DeleteItem DeleteType=\"");
  r |= exs_buf_add_xml(b, delete_type ? delete_type : "MoveToDeletedItems");
  r |= exs_buf_adds(b, "\" SendMeetingCancellations=\"SendToNone\" "
                       "AffectedTaskOccurrences=\"AllOccurrences\">");
  r |= write_item_ids(b, ids, n);
  r |= exs_buf_adds(b, "</m:DeleteItem>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_delete_item(const char *body, size_t len, long http_status,
                              struct exs_ews_item_result *out, size_t n, struct exs_error *err)
{
  return parse_results("DeleteItem", body, len, http_status, out, n, err);
}

/* ---- SyncFolderItems ---- */

int exs_ews_build_sync_folder_items(struct exs_buf *b, const struct exs_ews_context *ctx,
                                    const struct exs_ews_sync_items_req *req)
{
  static const char *const default_fields[] = {"item:ItemClass", "item:LastModifiedTime"};
  int r = 0;
  int max = req->max_changes > 0 ? req->max_changes : 100;

  if(max > 512)
    max = 512;
  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:SyncFolderItems>");
  if(req->fields || req->ext)
    r |= write_shape(b, "ItemShape", false, NULL, req->fields, req->n_fields, req->ext, req->n_ext);
  else
    r |= write_shape(b, "ItemShape", false, NULL, default_fields, 2, NULL, 0);
  r |= exs_buf_adds(b, "<m:SyncFolderId>");
  r |= exs_ews_write_folder_ref(b, &req->folder);
  r |= exs_buf_adds(b, "</m:SyncFolderId>");
  if(req->sync_state && *req->sync_state) {
    r |= exs_buf_adds(b, "<m:SyncState>");
    r |= exs_buf_add_xml(b, req->sync_state);
    r |= exs_buf_adds(b, "</m:SyncState>");
  }
  r |= exs_buf_addf(b,
                    "<m:MaxChangesReturned>%d</m:MaxChangesReturned>"
                    "<m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>",
                    max);
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_sync_folder_items(const char *body, size_t len, long http_status,
                                    struct exs_ews_item_sync *out, struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr msg, changes, c;
  size_t n;
  int result = -1;

  exs_ews_item_sync_reset(out);
  if(exs_ews__first_message(body, len, http_status, "SyncFolderItems", true, &doc, &msg, err))
    goto out;
  {
    xmlNodePtr st = exs_xml_child(msg, EXS_NS_MSG, "SyncState");
    xmlChar *s = st ? xmlNodeGetContent(st) : NULL;
    out->sync_state = strdup(s ? (const char *)s : "");
    xmlFree(s);
  }
  out->includes_last =
      exs_ews__bool_text(exs_xml_child(msg, EXS_NS_MSG, "IncludesLastItemInRange"));
  changes = exs_xml_child(msg, EXS_NS_MSG, "Changes");
  n = exs_ews__count_elements(changes);
  if(n > out->cap) {
    free(out->changes);
    out->cap = 0;
    out->changes = calloc(n, sizeof(*out->changes));
    if(out->changes)
      out->cap = n;
  }
  else if(n) {
    memset(out->changes, 0, n * sizeof(*out->changes)); /* resident: no page faults */
  }
  if(!out->sync_state || (n && !out->changes)) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    goto out;
  }
  for(c = changes ? changes->children : NULL; c; c = c->next) {
    struct exs_ews_item_sync_change *ch;
    const char *name;
    if(c->type != XML_ELEMENT_NODE || !exs_xml_is(c, EXS_NS_TYPES, (const char *)c->name))
      continue;
    name = (const char *)c->name;
    ch = &out->changes[out->n];
    ch->item.ok = true;
    if(!strcmp(name, "Create") || !strcmp(name, "Update")) {
      ch->kind = name[0] == 'C' ? EXS_EWS_CHANGE_CREATE : EXS_EWS_CHANGE_UPDATE;
      parse_item_node(exs_xml_first_element(c), &ch->item);
    }
    else if(!strcmp(name, "Delete") || !strcmp(name, "ReadFlagChange")) {
      ch->kind = name[0] == 'D' ? EXS_EWS_CHANGE_DELETE : EXS_EWS_CHANGE_READ_FLAG;
      parse_item_node(c, &ch->item); /* ItemId (+ IsRead) */
      ch->item.kind[0] = '\0';
    }
    else {
      continue;
    }
    out->n++;
  }
  result = 0;
out:
  if(result)
    exs_ews_item_sync_free(out);
  xmlFreeDoc(doc);
  return result;
}

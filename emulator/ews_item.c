/* ews_item.c - item operations: FindItem (paging, restrictions, sort),
 * GetItem, CreateItem (messages, with delivery between emulated mailboxes),
 * DeleteItem, MoveItem, ResolveNames. Answers go to ctx->out in schema
 * order; runs under the world lock (shared) and the
 * locks of the mailboxes the request names (ews.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ews_ops.h"
#include "exsync/clock.h"
#include "exsync/xml.h"

/* ---- writing ---- */

void ews_serialize(struct exs_buf *o, xmlNodePtr n)
{
  const char *pfx =
      n->ns && n->ns->href && strcmp((const char *)n->ns->href, EMU_NS_T) == 0 ? "t:" : "";

  exs_buf_addf(o, "<%s%s", pfx, (const char *)n->name);
  for(xmlAttrPtr a = n->properties; a; a = a->next) {
    char *v;
    if(a->ns)
      continue;
    v = (char *)xmlNodeGetContent((xmlNodePtr)a);
    exs_buf_addf(o, " %s=\"", (const char *)a->name);
    exs_buf_add_xml(o, v ? v : "");
    exs_buf_adds(o, "\"");
    xmlFree(v);
  }
  exs_buf_adds(o, ">");
  for(xmlNodePtr c = n->children; c; c = c->next) {
    if(c->type == XML_ELEMENT_NODE)
      ews_serialize(o, c);
    else if(c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
      /* Exchange answers date-times in UTC whatever offset a client wrote
       * (the EWS Managed API cannot read back its own "+00:00" form) */
      time_t t;
      char iso[32];
      if(strchr((const char *)c->content, 'T') && exs_time_parse((const char *)c->content, &t) == 0)
        exs_buf_adds(o, exs_time_iso(t, iso, sizeof(iso)));
      else
        exs_buf_add_xml(o, (const char *)c->content);
    }
  }
  exs_buf_addf(o, "</%s%s>", pfx, (const char *)n->name);
}

const char *ews_item_elem(const struct emu_item *it)
{
  switch(it->kind) {
  case EMU_KIND_CALENDAR:
    return "CalendarItem";
  case EMU_KIND_CONTACT:
    return "Contact";
  case EMU_KIND_TASK:
    return "Task";
  case EMU_KIND_ITEM:
    return "Item";
  default:
    return "Message";
  }
}

void ews_write_item_id(struct exs_buf *o, const struct emu_item *it)
{
  char id[128], ck[64];

  emu_id_encode('I', it->num, id, sizeof(id));
  emu_ck_encode('I', it->ck, ck, sizeof(ck));
  exs_buf_addf(o, "<t:ItemId Id=\"%s\" ChangeKey=\"%s\"/>", id, ck);
}

static void write_text(struct exs_buf *o, const char *elem, const char *v)
{
  exs_buf_addf(o, "<t:%s>", elem);
  exs_buf_add_xml(o, v ? v : "");
  exs_buf_addf(o, "</t:%s>", elem);
}

static void write_time(struct exs_buf *o, const char *elem, time_t t)
{
  char b[32];

  exs_buf_addf(o, "<t:%s>%s</t:%s>", elem, exs_time_iso(t, b, sizeof(b)), elem);
}

static void write_mailbox(struct emu_ews_ctx *ctx, const char *smtp)
{
  struct emu_mailbox *m = emu_mailbox_find(ctx->emu, smtp);
  struct exs_buf *o = ctx->out;

  exs_buf_adds(o, "<t:Mailbox><t:Name>");
  exs_buf_add_xml(o, m ? m->display : smtp);
  exs_buf_adds(o, "</t:Name><t:EmailAddress>");
  exs_buf_add_xml(o, smtp);
  exs_buf_adds(o, "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
                  "<t:MailboxType>Mailbox</t:MailboxType></t:Mailbox>");
}

static void write_recipients(struct emu_ews_ctx *ctx, const char *elem, char **v, size_t n)
{
  if(!n)
    return;
  exs_buf_addf(ctx->out, "<t:%s>", elem);
  for(size_t i = 0; i < n; i++)
    write_mailbox(ctx, v[i]);
  exs_buf_addf(ctx->out, "</t:%s>", elem);
}

static bool is_message(const struct emu_item *it)
{
  return it->kind == EMU_KIND_MESSAGE;
}

static bool shape_names(const struct ews_shape *s, const char *name)
{
  for(int i = 0; i < s->nnames; i++)
    if(strcmp(s->names[i], name) == 0)
      return true;
  return false;
}

static bool has_frag(const struct emu_item *it, const char *name)
{
  for(const struct emu_frag *fr = it->frags; fr; fr = fr->next)
    if(strcmp(fr->name, name) == 0)
      return true;
  return false;
}

/* Calendar items, contacts, tasks: generated fields merged with the fields
 * kept verbatim, all in schema order. */
static void write_mime(struct exs_buf *o, const struct emu_item *it)
{
  struct exs_buf mime;

  exs_buf_init(&mime, EMU_MAX_BODY / 2);
  ews_item_mime(it, &mime);
  exs_buf_adds(o, "<t:MimeContent CharacterSet=\"UTF-8\">");
  exs_base64_encode(o, (const unsigned char *)(mime.data ? mime.data : ""), mime.len);
  exs_buf_adds(o, "</t:MimeContent>");
  exs_buf_free(&mime);
}

static void write_typed_item(struct emu_ews_ctx *ctx, const struct emu_item *it,
                             const struct ews_shape *s, bool find)
{
  static const char *const gen[] = {
      "ItemId",        "ParentFolderId",   "ItemClass",      "Subject",
      "Body",          "DateTimeReceived", "Size",           "Categories",
      "DateTimeSent",  "DateTimeCreated",  "HasAttachments", "ExtendedProperty",
      "StartTimeZone", "EndTimeZone",      "Status"};
  struct exs_buf *o = ctx->out;
  bool dflt = s->base >= 1, all = s->base == 2;
  unsigned long f = s->fields;
  const struct emu_frag *fr = it->frags;
  const char *elem = ews_item_elem(it);

  exs_buf_addf(o, "<t:%s>", elem);
  if(s->mime && !find)
    write_mime(o, it);
  for(size_t g = 0; g <= sizeof(gen) / sizeof(gen[0]); g++) {
    int order = g < sizeof(gen) / sizeof(gen[0]) ? emu_field_order(it->kind, gen[g]) : 1 << 30;
    if(order < 0)
      continue; /* a calendar field of another kind of item */
    for(; fr && fr->order < order; fr = fr->next)
      if(dflt || shape_names(s, fr->name))
        exs_buf_adds(o, fr->xml);
    if(g == sizeof(gen) / sizeof(gen[0]))
      break;
    switch(g) {
    case 0:
      ews_write_item_id(o, it);
      break;
    case 1:
      if((dflt || (f & EI_PARENT)) && it->folder)
        ews_write_folder_id(o, "ParentFolderId", it->folder);
      break;
    case 2:
      if(dflt || (f & EI_CLASS))
        write_text(o, "ItemClass", it->item_class);
      break;
    case 3:
      if(dflt || (f & EI_SUBJECT))
        write_text(o, "Subject", it->subject);
      break;
    case 4:
      if((all || (f & EI_BODY)) && it->body) {
        exs_buf_addf(o, "<t:Body BodyType=\"%s\">", it->body_html ? "HTML" : "Text");
        exs_buf_add_xml(o, it->body);
        exs_buf_adds(o, "</t:Body>");
      }
      break;
    case 5:
      if(dflt || (f & EI_RECEIVED))
        write_time(o, "DateTimeReceived", it->received);
      break;
    case 6:
      if(dflt || (f & EI_SIZE))
        exs_buf_addf(o, "<t:Size>%zu</t:Size>", (it->body ? strlen(it->body) : 0) + 200);
      break;
    case 7:
      if((all || (f & EI_CATEGORIES)) && it->ncat) {
        exs_buf_adds(o, "<t:Categories>");
        for(size_t i = 0; i < it->ncat; i++)
          write_text(o, "String", it->categories[i]);
        exs_buf_adds(o, "</t:Categories>");
      }
      break;
    case 8:
      if(dflt || (f & EI_SENT))
        write_time(o, "DateTimeSent", it->sent);
      break;
    case 9:
      if(dflt || (f & EI_CREATED))
        write_time(o, "DateTimeCreated", it->created);
      break;
    case 10:
      if(dflt || (f & EI_HAS_ATTACH))
        exs_buf_adds(o, "<t:HasAttachments>false</t:HasAttachments>");
      break;
    case 11:
      ews_write_item_props(o, it, s);
      break;
    case 12:
    case 13:
      /* clients that did not send a time zone get UTC: the EWS Managed API
       * reads Start/End through them */
      if((all || shape_names(s, gen[g])) && !has_frag(it, gen[g]))
        exs_buf_addf(o, "<t:%s Id=\"UTC\" Name=\"(UTC) Coordinated Universal Time\"/>", gen[g]);
      break;
    case 14:
      /* a task always has a status; a new one has not started */
      if((dflt || shape_names(s, "Status")) && !has_frag(it, "Status"))
        exs_buf_adds(o, "<t:Status>NotStarted</t:Status>");
      break;
    }
  }
  exs_buf_addf(o, "</t:%s>", elem);
}

static void strip_tags(const char *in, struct exs_buf *out)
{
  bool tag = false;

  for(const char *p = in; p && *p; p++) {
    if(*p == '<')
      tag = true;
    else if(*p == '>')
      tag = false;
    else if(!tag)
      exs_buf_add(out, p, 1);
  }
}

void ews_write_item(struct emu_ews_ctx *ctx, const struct emu_item *it, const struct ews_shape *s,
                    bool find)
{
  struct exs_buf *o = ctx->out;
  bool dflt = s->base >= 1, all = s->base == 2;
  bool msg = is_message(it);
  const char *elem = ews_item_elem(it);
  unsigned long f = s->fields;

  if(!msg) {
    write_typed_item(ctx, it, s, find);
    return;
  }

  exs_buf_addf(o, "<t:%s>", elem);
  if(s->mime && !find)
    write_mime(o, it);
  ews_write_item_id(o, it);
  if((dflt || (f & EI_PARENT)) && it->folder)
    ews_write_folder_id(o, "ParentFolderId", it->folder);
  if(dflt || (f & EI_CLASS))
    write_text(o, "ItemClass", it->item_class ? it->item_class : "IPM.Note");
  if(dflt || (f & EI_SUBJECT))
    write_text(o, "Subject", it->subject);
  if(!find && (all || (f & EI_BODY))) {
    if(it->body_html && s->body_text) {
      struct exs_buf plain;
      exs_buf_init(&plain, EMU_MAX_BODY / 2);
      strip_tags(it->body, &plain);
      exs_buf_adds(o, "<t:Body BodyType=\"Text\">");
      exs_buf_add_xml(o, plain.data ? plain.data : "");
      exs_buf_adds(o, "</t:Body>");
      exs_buf_free(&plain);
    }
    else {
      exs_buf_addf(o, "<t:Body BodyType=\"%s\">", it->body_html ? "HTML" : "Text");
      exs_buf_add_xml(o, it->body ? it->body : "");
      exs_buf_adds(o, "</t:Body>");
    }
  }
  if(dflt || (f & EI_RECEIVED))
    write_time(o, "DateTimeReceived", it->received);
  if(dflt || (f & EI_SIZE))
    exs_buf_addf(o, "<t:Size>%zu</t:Size>", it->mime_len + (it->body ? strlen(it->body) : 0) + 200);
  if((all || (f & EI_CATEGORIES)) && it->ncat) {
    exs_buf_adds(o, "<t:Categories>");
    for(size_t i = 0; i < it->ncat; i++)
      write_text(o, "String", it->categories[i]);
    exs_buf_adds(o, "</t:Categories>");
  }
  if(all || (f & EI_IS_DRAFT))
    exs_buf_addf(o, "<t:IsDraft>%s</t:IsDraft>", it->is_draft ? "true" : "false");
  if(dflt || (f & EI_SENT))
    write_time(o, "DateTimeSent", it->sent);
  if(dflt || (f & EI_CREATED))
    write_time(o, "DateTimeCreated", it->created);
  if(dflt || (f & EI_HAS_ATTACH))
    exs_buf_adds(o, "<t:HasAttachments>false</t:HasAttachments>");
  ews_write_item_props(o, it, s);
  if(msg) {
    if((dflt || (f & EM_SENDER)) && it->from) {
      exs_buf_adds(o, "<t:Sender>");
      write_mailbox(ctx, it->from);
      exs_buf_adds(o, "</t:Sender>");
    }
    if(!find && (all || (f & EM_TO)))
      write_recipients(ctx, "ToRecipients", it->to, it->nto);
    if(!find && (all || (f & EM_CC)))
      write_recipients(ctx, "CcRecipients", it->cc, it->ncc);
    if((dflt || (f & EM_FROM)) && it->from) {
      exs_buf_adds(o, "<t:From>");
      write_mailbox(ctx, it->from);
      exs_buf_adds(o, "</t:From>");
    }
    if((all || (f & EM_MSGID)) && it->message_id)
      write_text(o, "InternetMessageId", it->message_id);
    if(dflt || (f & EM_IS_READ))
      exs_buf_addf(o, "<t:IsRead>%s</t:IsRead>", it->is_read ? "true" : "false");
  }
  exs_buf_addf(o, "</t:%s>", elem);
}

/* ---- restrictions ---- */

/* The value of a field of it as text; *is_time when it is a date. Returns
 * false when the item has no such value. */
static bool item_value(const struct emu_item *it, xmlNodePtr uri, char *buf, size_t len,
                       bool *is_time)
{
  char name[128];

  *is_time = false;
  buf[0] = '\0';
  if(exs_xml_is(uri, EMU_NS_T, "ExtendedFieldURI")) {
    char scratch[6][256];
    struct emu_prop key;
    struct exs_buf val;
    bool has;
    if(ews_ext_uri(uri, &key, scratch) != 0)
      return false;
    exs_buf_init(&val, EMU_MAX_BODY);
    has = ews_item_prop(it, &key, &val);
    if(has) /* an array compares by its first value */
      snprintf(buf, len, "%.*s", (int)strcspn(val.data ? val.data : "", "\n"),
               val.data ? val.data : "");
    exs_buf_free(&val);
    *is_time = key.type && strcmp(key.type, "SystemTime") == 0;
    return has;
  }
  if(!exs_xml_is(uri, EMU_NS_T, "FieldURI"))
    return false;
  exs_xml_attr(uri, "FieldURI", name, sizeof(name));
  if(strcmp(name, "item:Subject") == 0)
    snprintf(buf, len, "%s", it->subject ? it->subject : "");
  else if(strcmp(name, "item:ItemClass") == 0)
    snprintf(buf, len, "%s", it->item_class ? it->item_class : "IPM.Note");
  else if(strcmp(name, "item:Body") == 0)
    snprintf(buf, len, "%s", it->body ? it->body : "");
  else if(strcmp(name, "message:InternetMessageId") == 0)
    snprintf(buf, len, "%s", it->message_id ? it->message_id : "");
  else if(strcmp(name, "message:IsRead") == 0)
    snprintf(buf, len, "%s", it->is_read ? "true" : "false");
  else if(strcmp(name, "message:From") == 0 || strcmp(name, "message:Sender") == 0)
    snprintf(buf, len, "%s", it->from ? it->from : "");
  else if(strcmp(name, "item:Categories") == 0)
    snprintf(buf, len, "%s", it->ncat ? it->categories[0] : "");
  else if(strcmp(name, "item:DateTimeReceived") == 0 || strcmp(name, "item:DateTimeSent") == 0 ||
          strcmp(name, "item:DateTimeCreated") == 0) {
    time_t t = strcmp(name, "item:DateTimeReceived") == 0 ? it->received
               : strcmp(name, "item:DateTimeSent") == 0   ? it->sent
                                                          : it->created;
    exs_time_iso(t, buf, len);
    *is_time = true;
  }
  else {
    /* calendar:Start, task:DueDate ...: a field kept verbatim */
    const char *local = strchr(name, ':') ? strchr(name, ':') + 1 : name;
    if(!ews_frag_text(it, local, buf, len))
      return false;
    *is_time = strchr(buf, 'T') && strlen(buf) >= 19 && buf[4] == '-';
  }
  return true;
}

static int compare_values(const char *a, const char *b, bool is_time)
{
  time_t ta, tb;
  char *ea, *eb;
  double da, db;

  if(is_time && exs_time_parse(a, &ta) == 0 && exs_time_parse(b, &tb) == 0)
    return ta < tb ? -1 : ta > tb ? 1 : 0;
  da = strtod(a, &ea);
  db = strtod(b, &eb);
  if(*a && *b && !*ea && !*eb)
    return da < db ? -1 : da > db ? 1 : 0;
  return strcasecmp(a, b);
}

static bool contains(const char *hay, const char *needle, const char *mode, bool ignore_case)
{
  size_t hl = strlen(hay), nl = strlen(needle);

  if(strcmp(mode, "FullString") == 0)
    return ignore_case ? strcasecmp(hay, needle) == 0 : strcmp(hay, needle) == 0;
  if(strcmp(mode, "Prefixed") == 0)
    return hl >= nl &&
           (ignore_case ? strncasecmp(hay, needle, nl) == 0 : strncmp(hay, needle, nl) == 0);
  return ignore_case ? emu_strcasestr(hay, needle) != NULL : strstr(hay, needle) != NULL;
}

static bool restr_eval(const struct emu_item *it, xmlNodePtr r, int depth)
{
  char have[2048], want[2048];
  bool is_time;
  xmlNodePtr uri;

  if(!r || depth > 32)
    return true;
  if(exs_xml_is(r, EMU_NS_T, "And") || exs_xml_is(r, EMU_NS_T, "Or")) {
    bool is_and = exs_xml_is(r, EMU_NS_T, "And");
    for(xmlNodePtr c = r->children; c; c = c->next) {
      if(c->type != XML_ELEMENT_NODE)
        continue;
      bool v = restr_eval(it, c, depth + 1);
      if(is_and && !v)
        return false;
      if(!is_and && v)
        return true;
    }
    return is_and;
  }
  if(exs_xml_is(r, EMU_NS_T, "Not"))
    return !restr_eval(it, exs_xml_first_element(r), depth + 1);
  uri = exs_xml_first_element(r);
  if(exs_xml_is(r, EMU_NS_T, "Exists"))
    return item_value(it, uri, have, sizeof(have), &is_time);
  if(exs_xml_is(r, EMU_NS_T, "Contains") || exs_xml_is(r, EMU_NS_T, "Excludes")) {
    char mode[32], cmp[64];
    bool ok;
    exs_xml_attr(exs_xml_child(r, EMU_NS_T, "Constant"), "Value", want, sizeof(want));
    if(!exs_xml_attr(r, "ContainmentMode", mode, sizeof(mode)))
      snprintf(mode, sizeof(mode), "Substring");
    exs_xml_attr(r, "ContainmentComparison", cmp, sizeof(cmp));
    if(!item_value(it, uri, have, sizeof(have), &is_time))
      return exs_xml_is(r, EMU_NS_T, "Excludes");
    ok = contains(have, want, mode, strstr(cmp, "IgnoreCase") || strstr(cmp, "Loose"));
    return exs_xml_is(r, EMU_NS_T, "Excludes") ? !ok : ok;
  }
  {
    xmlNodePtr c = exs_xml_path(r, EMU_NS_T, "FieldURIOrConstant/Constant");
    int cmpv;
    if(!c || !item_value(it, uri, have, sizeof(have), &is_time))
      return exs_xml_is(r, EMU_NS_T, "IsNotEqualTo");
    exs_xml_attr(c, "Value", want, sizeof(want));
    cmpv = compare_values(have, want, is_time);
    if(exs_xml_is(r, EMU_NS_T, "IsEqualTo"))
      return cmpv == 0;
    if(exs_xml_is(r, EMU_NS_T, "IsNotEqualTo"))
      return cmpv != 0;
    if(exs_xml_is(r, EMU_NS_T, "IsGreaterThan"))
      return cmpv > 0;
    if(exs_xml_is(r, EMU_NS_T, "IsGreaterThanOrEqualTo"))
      return cmpv >= 0;
    if(exs_xml_is(r, EMU_NS_T, "IsLessThan"))
      return cmpv < 0;
    if(exs_xml_is(r, EMU_NS_T, "IsLessThanOrEqualTo"))
      return cmpv <= 0;
  }
  return true;
}

/* ---- FindItem ---- */

static _Thread_local bool by_start;

static _Thread_local xmlNodePtr sort_uri;
static _Thread_local bool sort_desc;

static int sort_cmp(const void *pa, const void *pb)
{
  const struct emu_item *a = *(const struct emu_item *const *)pa;
  const struct emu_item *b = *(const struct emu_item *const *)pb;
  char va[512], vb[512];
  bool ta, tb;
  int c;

  if(by_start) {
    time_t sa = 0, sb = 0;
    ews_frag_time(a, "Start", &sa);
    ews_frag_time(b, "Start", &sb);
    return sa < sb ? -1 : sa > sb ? 1 : a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
  }
  item_value(a, sort_uri, va, sizeof(va), &ta);
  item_value(b, sort_uri, vb, sizeof(vb), &tb);
  c = compare_values(va, vb, ta && tb);
  if(c == 0)
    c = a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
  return sort_desc ? -c : c;
}

/* The paging and calendar window of a FindItem. */
struct find_view {
  xmlNodePtr restr, order, cview;
  long max, offset;
  bool from_end;
  time_t vstart, vend;
};

static void find_view_parse(xmlNodePtr op, struct find_view *v)
{
  xmlNodePtr view = exs_xml_child(op, EMU_NS_M, "IndexedPageItemView");
  char buf[64];

  memset(v, 0, sizeof(*v));
  v->restr = exs_xml_child(op, EMU_NS_M, "Restriction");
  v->order = exs_xml_path(op, EMU_NS_M, "SortOrder");
  v->cview = exs_xml_child(op, EMU_NS_M, "CalendarView");
  v->max = 1000;
  if(v->cview) {
    if(exs_xml_attr(v->cview, "MaxEntriesReturned", buf, sizeof(buf)))
      v->max = strtol(buf, NULL, 10);
    exs_xml_attr(v->cview, "StartDate", buf, sizeof(buf));
    exs_time_parse(buf, &v->vstart);
    exs_xml_attr(v->cview, "EndDate", buf, sizeof(buf));
    exs_time_parse(buf, &v->vend);
  }
  if(view) {
    if(exs_xml_attr(view, "MaxEntriesReturned", buf, sizeof(buf)))
      v->max = strtol(buf, NULL, 10);
    if(exs_xml_attr(view, "Offset", buf, sizeof(buf)))
      v->offset = strtol(buf, NULL, 10);
    exs_xml_attr(view, "BasePoint", buf, sizeof(buf));
    v->from_end = strcmp(buf, "End") == 0;
  }
  if(v->max <= 0 || v->max > 1000)
    v->max = 1000;
  if(v->offset < 0)
    v->offset = 0;
}

/* The folder's items in the calendar window that match the restriction,
 * into sel; their count. */
static size_t find_select(const struct emu_folder *f, const struct find_view *v,
                          struct emu_item **sel)
{
  size_t n = 0;

  for(size_t i = 0; i < f->nitems; i++) {
    struct emu_item *it = f->items[i];
    if(v->cview) {
      /* CalendarView: calendar items overlapping [StartDate, EndDate) */
      time_t s0, e0;
      if(it->kind != EMU_KIND_CALENDAR || !ews_frag_time(it, "Start", &s0))
        continue;
      if(!ews_frag_time(it, "End", &e0))
        e0 = s0;
      if(!(s0 < v->vend && e0 > v->vstart) && !(s0 == e0 && s0 >= v->vstart && s0 < v->vend))
        continue;
    }
    if(!v->restr || restr_eval(it, exs_xml_first_element(v->restr), 0))
      sel[n++] = it;
  }
  return n;
}

/* Calendar views by start, else by the SortOrder's first field. */
static void find_sort(const struct find_view *v, struct emu_item **sel, size_t n)
{
  char buf[64];

  if(v->cview) {
    by_start = true;
    qsort(sel, n, sizeof(*sel), sort_cmp);
    by_start = false;
  }
  else if(v->order) {
    xmlNodePtr fo = exs_xml_child(v->order, EMU_NS_T, "FieldOrder");
    if(fo) {
      exs_xml_attr(fo, "Order", buf, sizeof(buf));
      sort_desc = strcmp(buf, "Descending") == 0;
      sort_uri = exs_xml_first_element(fo);
      qsort(sel, n, sizeof(*sel), sort_cmp);
    }
  }
}

/* One folder's response message: its page of the selection. */
static void find_write_page(struct emu_ews_ctx *ctx, const struct find_view *v,
                            const struct ews_shape *shape, struct emu_item **sel, size_t n)
{
  size_t start, end;

  if(v->from_end) {
    end = (size_t)v->offset >= n ? 0 : n - (size_t)v->offset;
    start = end > (size_t)v->max ? end - (size_t)v->max : 0;
  }
  else {
    start = (size_t)v->offset > n ? n : (size_t)v->offset;
    end = start + (size_t)v->max > n ? n : start + (size_t)v->max;
  }
  ews_msg_ok(ctx, "FindItem");
  exs_buf_addf(ctx->out,
               "<m:RootFolder IndexedPagingOffset=\"%zu\" TotalItemsInView=\"%zu\" "
               "IncludesLastItemInRange=\"%s\"><t:Items>",
               v->from_end ? n - start : end, n,
               (v->from_end ? start == 0 : end >= n) ? "true" : "false");
  for(size_t i = start; i < end; i++)
    ews_write_item(ctx, sel[i], shape, true);
  exs_buf_adds(ctx->out, "</t:Items></m:RootFolder>");
  ews_msg_end(ctx, "FindItem");
}

void ews_find_item(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  struct ews_shape shape;
  struct find_view v;
  xmlNodePtr ids = exs_xml_child(op, EMU_NS_M, "ParentFolderIds");

  find_view_parse(op, &v);
  ews_shape_parse(exs_xml_child(op, EMU_NS_M, "ItemShape"), &shape);
  ews_response_begin(ctx, "FindItem");
  for(xmlNodePtr id = ids ? ids->children : NULL; id; id = id->next) {
    const char *code;
    struct emu_folder *f;
    struct emu_item **sel;
    size_t n;
    if(id->type != XML_ELEMENT_NODE)
      continue;
    f = ews_resolve_folder(ctx, id, &code);
    if(!f) {
      ews_msg_error(ctx, "FindItem", code);
      ews_msg_end(ctx, "FindItem");
      continue;
    }
    sel = malloc((f->nitems + 1) * sizeof(*sel));
    if(!sel) {
      ews_msg_error(ctx, "FindItem", "ErrorInternalServerError");
      ews_msg_end(ctx, "FindItem");
      continue;
    }
    n = find_select(f, &v, sel);
    find_sort(&v, sel, n);
    find_write_page(ctx, &v, &shape, sel, n);
    free(sel);
  }
  ews_response_end(ctx, "FindItem");
  ews_shape_free(&shape);
}

/* ---- item ids ---- */

struct emu_item *ews_resolve_item(struct emu_ews_ctx *ctx, xmlNodePtr id, const char **code)
{
  char buf[256], kind;
  uint64_t num;
  struct emu_item *it;
  struct emu_mailbox *m;

  exs_xml_attr(id, "Id", buf, sizeof(buf));
  if(emu_id_decode(buf, &kind, &num) != 0 || kind != 'I') {
    *code = "ErrorInvalidIdMalformed";
    return NULL;
  }
  /* only an item of a mailbox this request locked is looked at */
  m = emu_owner_of(ctx->emu, 'I', num);
  if(!m) {
    *code = "ErrorItemNotFound";
    return NULL;
  }
  if((*code = ews_check_mailbox(ctx, m)) != NULL)
    return NULL;
  it = emu_item_by_num(ctx->emu, num);
  if(!it || !it->folder) {
    *code = "ErrorItemNotFound";
    return NULL;
  }
  if(it->folder->access_denied) {
    *code = "ErrorAccessDenied";
    return NULL;
  }
  return it;
}

/* ---- GetItem ---- */

void ews_get_item(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  struct ews_shape shape;
  xmlNodePtr ids = exs_xml_child(op, EMU_NS_M, "ItemIds");

  ews_shape_parse(exs_xml_child(op, EMU_NS_M, "ItemShape"), &shape);
  ews_response_begin(ctx, "GetItem");
  for(xmlNodePtr id = ids ? ids->children : NULL; id; id = id->next) {
    const char *code;
    struct emu_item *it;
    if(id->type != XML_ELEMENT_NODE)
      continue;
    it = ews_resolve_item(ctx, id, &code);
    if(!it) {
      ews_msg_error(ctx, "GetItem", code);
      exs_buf_adds(ctx->out, "<m:Items/>");
    }
    else {
      ews_msg_ok(ctx, "GetItem");
      exs_buf_adds(ctx->out, "<m:Items>");
      ews_write_item(ctx, it, &shape, false);
      exs_buf_adds(ctx->out, "</m:Items>");
    }
    ews_msg_end(ctx, "GetItem");
  }
  ews_response_end(ctx, "GetItem");
  ews_shape_free(&shape);
}

/* ---- CreateItem ---- */

/* "Name <addr>" or "addr" -> addr into out. */
static void addr_only(const char *s, char *out, size_t len)
{
  const char *lt = strchr(s, '<'), *gt;

  while(*s == ' ' || *s == '\t')
    s++;
  if(lt && (gt = strchr(lt, '>')) != NULL) {
    snprintf(out, len, "%.*s", (int)(gt - lt - 1), lt + 1);
    return;
  }
  snprintf(out, len, "%s", s);
  for(char *e = out + strlen(out); e > out && isspace((unsigned char)e[-1]); e--)
    e[-1] = '\0';
}

static void add_addr_list(char ***v, size_t *n, const char *list)
{
  char *copy = strdup(list), *save = NULL;

  if(!copy)
    return;
  for(char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char a[256];
    addr_only(t, a, sizeof(a));
    if(a[0])
      emu_strv_add(v, n, a);
  }
  free(copy);
}

/* Fill the item's header fields from its MIME where the XML gave none. */
static void parse_mime(struct emu_item *it)
{
  const char *p = it->mime, *end = it->mime + it->mime_len;

  while(p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t l = eol ? (size_t)(eol - p) : (size_t)(end - p);
    char line[1024];
    if(l && p[l - 1] == '\r')
      l--;
    if(l == 0) {
      const char *body = eol ? eol + 1 : end;
      if(!it->body)
        it->body = strndup(body, (size_t)(end - body));
      break;
    }
    snprintf(line, sizeof(line), "%.*s", (int)l, p);
    if(!strncasecmp(line, "Subject:", 8) && !it->subject)
      it->subject = strdup(line + 8 + (line[8] == ' '));
    else if(!strncasecmp(line, "From:", 5) && !it->from) {
      char a[256];
      addr_only(line + 5, a, sizeof(a));
      it->from = strdup(a);
    }
    else if(!strncasecmp(line, "To:", 3) && !it->nto)
      add_addr_list(&it->to, &it->nto, line + 3);
    else if(!strncasecmp(line, "Cc:", 3) && !it->ncc)
      add_addr_list(&it->cc, &it->ncc, line + 3);
    else if(!strncasecmp(line, "Message-ID:", 11) && !it->message_id) {
      char a[256];
      addr_only(line + 11, a, sizeof(a));
      char b[260];
      snprintf(b, sizeof(b), "<%s>", a);
      it->message_id = strdup(b);
    }
    p = eol ? eol + 1 : end;
  }
}

static void read_recipients(xmlNodePtr list, char ***v, size_t *n)
{
  for(xmlNodePtr m = list ? list->children : NULL; m; m = m->next) {
    char a[256];
    if(!exs_xml_is(m, EMU_NS_T, "Mailbox"))
      continue;
    exs_xml_text(exs_xml_child(m, EMU_NS_T, "EmailAddress"), a, sizeof(a));
    if(a[0])
      emu_strv_add(v, n, a);
  }
}

/* MimeContent (base64) into it->mime; -1 when it does not decode. */
static int read_mime_content(struct emu_item *it, xmlNodePtr n)
{
  char *b64 = (char *)xmlNodeGetContent(n);
  struct exs_buf d;

  exs_buf_init(&d, EMU_MAX_BODY);
  if(!b64 || exs_base64_decode(&d, b64, strlen(b64)) != 0) {
    xmlFree(b64);
    exs_buf_free(&d);
    return -1;
  }
  xmlFree(b64);
  it->mime_len = d.len;
  it->mime = exs_buf_steal(&d);
  return 0;
}

/* The ExtendedProperty elements; ones with an unknown URI are skipped. */
static void read_ext_props(struct emu_item *it, xmlNodePtr x)
{
  for(xmlNodePtr n = exs_xml_child(x, EMU_NS_T, "ExtendedProperty"); n;
      n = exs_xml_next(n, EMU_NS_T, "ExtendedProperty")) {
    char scratch[6][256];
    struct emu_prop key;
    char *s;
    if(ews_ext_uri(exs_xml_child(n, EMU_NS_T, "ExtendedFieldURI"), &key, scratch) != 0)
      continue;
    s = ews_ext_read_value(n);
    ews_item_set_prop(it, &key, s ? s : "");
    free(s);
  }
}

/* Calendar items, contacts, tasks: the kind's other fields are kept as
 * serialized fragments, and the item class follows the kind by default. */
static void read_kind_fields(struct emu_item *it, xmlNodePtr x)
{
  static const char *const handled[] = {
      "MimeContent",  "ItemId",          "ParentFolderId",   "ItemClass",        "Subject",
      "Body",         "Categories",      "ExtendedProperty", "DateTimeReceived", "Size",
      "DateTimeSent", "DateTimeCreated", "HasAttachments"};

  for(xmlNodePtr c = x->children; c; c = c->next) {
    bool skip = false;
    int order;
    struct exs_buf frag;
    if(c->type != XML_ELEMENT_NODE)
      continue;
    for(size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
      if(strcmp((const char *)c->name, handled[i]) == 0)
        skip = true;
    order = emu_field_order(it->kind, (const char *)c->name);
    if(skip || order < 0)
      continue;
    exs_buf_init(&frag, EMU_MAX_BODY / 4);
    ews_serialize(&frag, c);
    emu_frag_set(it, (const char *)c->name, order, frag.data ? frag.data : "");
    exs_buf_free(&frag);
  }
  if(!exs_xml_child(x, EMU_NS_T, "ItemClass")) {
    free(it->item_class);
    it->item_class = strdup(it->kind == EMU_KIND_CALENDAR  ? "IPM.Appointment"
                            : it->kind == EMU_KIND_CONTACT ? "IPM.Contact"
                            : it->kind == EMU_KIND_TASK    ? "IPM.Task"
                                                           : "IPM.Note");
  }
}

/* A message: headers from its MIME where the XML gave none, the sender
 * and a Message-ID by default. */
static void complete_message(struct emu_ews_ctx *ctx, struct emu_item *it)
{
  char buf[512];

  if(it->mime)
    parse_mime(it);
  if(!it->from && ctx->acting)
    it->from = strdup(ctx->acting->smtp);
  if(!it->message_id) {
    snprintf(buf, sizeof(buf), "<%llu.exsync@%s>", (unsigned long long)it->num,
             ctx->host && *ctx->host ? ctx->host : "emulator");
    it->message_id = strdup(buf);
  }
}

/* Build an unattached item from a t:Message element. NULL with *code. */
static struct emu_item *item_from_xml(struct emu_ews_ctx *ctx, xmlNodePtr x, const char **code)
{
  struct emu_item *it = emu_item_new(ctx->emu, NULL);
  char buf[512];
  xmlNodePtr n;

  if(!it) {
    *code = "ErrorInternalServerError";
    return NULL;
  }
  if((n = exs_xml_child(x, EMU_NS_T, "MimeContent")) != NULL && read_mime_content(it, n) != 0) {
    emu_item_free(it);
    *code = "ErrorMimeContentInvalidBase64String";
    return NULL;
  }
  if((n = exs_xml_child(x, EMU_NS_T, "ItemClass")) != NULL)
    it->item_class = strdup(exs_xml_text(n, buf, sizeof(buf)));
  else
    it->item_class = strdup("IPM.Note");
  if((n = exs_xml_child(x, EMU_NS_T, "Subject")) != NULL) {
    char *s = (char *)xmlNodeGetContent(n);
    it->subject = strdup(s ? s : "");
    xmlFree(s);
  }
  if((n = exs_xml_child(x, EMU_NS_T, "Body")) != NULL) {
    char *s = (char *)xmlNodeGetContent(n);
    it->body = strdup(s ? s : "");
    xmlFree(s);
    exs_xml_attr(n, "BodyType", buf, sizeof(buf));
    it->body_html = strcmp(buf, "HTML") == 0;
  }
  if((n = exs_xml_child(x, EMU_NS_T, "Categories")) != NULL)
    for(xmlNodePtr s = n->children; s; s = s->next)
      if(exs_xml_is(s, EMU_NS_T, "String"))
        emu_strv_add(&it->categories, &it->ncat, exs_xml_text(s, buf, sizeof(buf)));
  read_ext_props(it, x);
  read_recipients(exs_xml_child(x, EMU_NS_T, "ToRecipients"), &it->to, &it->nto);
  read_recipients(exs_xml_child(x, EMU_NS_T, "CcRecipients"), &it->cc, &it->ncc);
  if((n = exs_xml_path(x, EMU_NS_T, "From/Mailbox/EmailAddress")) != NULL)
    it->from = strdup(exs_xml_text(n, buf, sizeof(buf)));
  if((n = exs_xml_child(x, EMU_NS_T, "InternetMessageId")) != NULL)
    it->message_id = strdup(exs_xml_text(n, buf, sizeof(buf)));
  if((n = exs_xml_child(x, EMU_NS_T, "IsRead")) != NULL)
    it->is_read = strcmp(exs_xml_text(n, buf, sizeof(buf)), "true") == 0;
  it->kind = exs_xml_is(x, EMU_NS_T, "CalendarItem") ? EMU_KIND_CALENDAR
             : exs_xml_is(x, EMU_NS_T, "Contact")    ? EMU_KIND_CONTACT
             : exs_xml_is(x, EMU_NS_T, "Task")       ? EMU_KIND_TASK
             : exs_xml_is(x, EMU_NS_T, "Message")    ? EMU_KIND_MESSAGE
                                                     : EMU_KIND_ITEM;
  if(it->kind != EMU_KIND_MESSAGE)
    read_kind_fields(it, x);
  else
    complete_message(ctx, it);
  return it;
}

/* One failed CreateItem response message. */
static void create_error(struct emu_ews_ctx *ctx, const char *code)
{
  ews_msg_error(ctx, "CreateItem", code);
  exs_buf_adds(ctx->out, "<m:Items/>");
  ews_msg_end(ctx, "CreateItem");
}

/* Calendar items, contacts, tasks: stored in SavedItemFolderId (sf) or the
 * kind's standard folder; nothing is sent. */
static void create_other(struct emu_ews_ctx *ctx, xmlNodePtr x, xmlNodePtr sf,
                         struct emu_folder *saved, const char *fcode)
{
  struct emu_folder *dest = sf ? saved : NULL;
  const char *dcode = fcode, *code = NULL;
  struct emu_item *it;

  if(!sf) {
    const char *std = exs_xml_is(x, EMU_NS_T, "CalendarItem") ? "calendar"
                      : exs_xml_is(x, EMU_NS_T, "Contact")    ? "contacts"
                      : exs_xml_is(x, EMU_NS_T, "Task")       ? "tasks"
                                                              : "drafts";
    dcode = ews_check_mailbox(ctx, ctx->acting);
    dest = dcode ? NULL : emu_folder_distinguished(ctx->acting, std);
  }
  it = dest ? item_from_xml(ctx, x, &code) : NULL;
  if(!it) {
    create_error(ctx, dest ? code : dcode ? dcode : "ErrorFolderNotFound");
    return;
  }
  emu_item_attach(dest, it);
  ews_msg_ok(ctx, "CreateItem");
  exs_buf_addf(ctx->out, "<m:Items><t:%s>", ews_item_elem(it));
  ews_write_item_id(ctx->out, it);
  exs_buf_addf(ctx->out, "</t:%s></m:Items>", ews_item_elem(it));
  ews_msg_end(ctx, "CreateItem");
}

/* A t:Message: saved (a draft, or the sent copy) and/or sent. */
static void create_message(struct emu_ews_ctx *ctx, xmlNodePtr x, bool has_sf,
                           struct emu_folder *saved, const char *fcode, const char *disp, bool send,
                           bool save)
{
  const char *code = NULL;
  struct emu_item *it;

  if(save && !saved) {
    create_error(ctx, fcode ? fcode : "ErrorFolderNotFound");
    return;
  }
  if(!disp[0] || (!send && !save)) {
    create_error(ctx, "ErrorInvalidOperation");
    return;
  }
  if(send && !ctx->acting && !has_sf) {
    create_error(ctx, "ErrorNonExistentMailbox");
    return;
  }
  it = item_from_xml(ctx, x, &code);
  if(!it) {
    create_error(ctx, code);
    return;
  }
  if(send && it->nto + it->ncc == 0) {
    emu_item_free(it);
    create_error(ctx, "ErrorInvalidRecipients");
    return;
  }
  it->is_draft = !send;
  it->is_read = true;
  if(send)
    emu_deliver_later(ctx, it);
  ews_msg_ok(ctx, "CreateItem");
  if(save) {
    emu_item_attach(saved, it);
    if(send) {
      exs_buf_adds(ctx->out, "<m:Items/>");
    }
    else {
      exs_buf_adds(ctx->out, "<m:Items><t:Message>");
      ews_write_item_id(ctx->out, it);
      exs_buf_adds(ctx->out, "</t:Message></m:Items>");
    }
  }
  else {
    emu_item_free(it);
    exs_buf_adds(ctx->out, "<m:Items/>");
  }
  ews_msg_end(ctx, "CreateItem");
}

void ews_create_item(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  char disp[32];
  xmlNodePtr sf = exs_xml_child(op, EMU_NS_M, "SavedItemFolderId");
  xmlNodePtr items = exs_xml_child(op, EMU_NS_M, "Items");
  struct emu_folder *saved = NULL;
  const char *fcode = NULL;
  bool send, save;

  exs_xml_attr(op, "MessageDisposition", disp, sizeof(disp));
  send = strcmp(disp, "SendOnly") == 0 || strcmp(disp, "SendAndSaveCopy") == 0;
  save = strcmp(disp, "SendOnly") != 0;
  if(sf)
    saved = ews_resolve_folder(ctx, exs_xml_first_element(sf), &fcode);
  else if(save) {
    fcode = ews_check_mailbox(ctx, ctx->acting);
    if(!fcode)
      saved = emu_folder_distinguished(ctx->acting, send ? "sentitems" : "drafts");
    if(!saved && !fcode)
      fcode = "ErrorFolderNotFound";
  }
  ews_response_begin(ctx, "CreateItem");
  for(xmlNodePtr x = items ? items->children : NULL; x; x = x->next) {
    if(x->type != XML_ELEMENT_NODE)
      continue;
    if(!exs_xml_is(x, EMU_NS_T, "Message"))
      create_other(ctx, x, sf, saved, fcode);
    else
      create_message(ctx, x, sf != NULL, saved, fcode, disp, send, save);
  }
  ews_response_end(ctx, "CreateItem");
}

/* ---- DeleteItem / MoveItem ---- */

void ews_delete_item(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  char type[32];
  xmlNodePtr ids = exs_xml_child(op, EMU_NS_M, "ItemIds");

  exs_xml_attr(op, "DeleteType", type, sizeof(type));
  ews_response_begin(ctx, "DeleteItem");
  for(xmlNodePtr id = ids ? ids->children : NULL; id; id = id->next) {
    const char *code;
    struct emu_item *it;
    if(id->type != XML_ELEMENT_NODE)
      continue;
    it = ews_resolve_item(ctx, id, &code);
    if(!it) {
      ews_msg_error(ctx, "DeleteItem", code);
    }
    else {
      struct emu_folder *del = emu_folder_distinguished(it->folder->mbx, "deleteditems");
      if(strcmp(type, "MoveToDeletedItems") == 0 && del && it->folder != del) {
        emu_item_detach(it);
        it->num = emu_next_num(ctx->emu);
        it->ck++;
        emu_item_attach(del, it);
      }
      else {
        emu_item_detach(it);
        emu_item_free(it);
      }
      ews_msg_ok(ctx, "DeleteItem");
    }
    ews_msg_end(ctx, "DeleteItem");
  }
  ews_response_end(ctx, "DeleteItem");
}

/* MoveItem and CopyItem: the item (or its copy) lands in the destination
 * with a new id, as on Exchange. */
static void move_or_copy(struct emu_ews_ctx *ctx, xmlNodePtr op, const char *opname, bool copy)
{
  xmlNodePtr to = exs_xml_child(op, EMU_NS_M, "ToFolderId");
  xmlNodePtr ids = exs_xml_child(op, EMU_NS_M, "ItemIds");
  const char *fcode = "ErrorFolderNotFound";
  struct emu_folder *dest = to ? ews_resolve_folder(ctx, exs_xml_first_element(to), &fcode) : NULL;

  ews_response_begin(ctx, opname);
  for(xmlNodePtr id = ids ? ids->children : NULL; id; id = id->next) {
    const char *code = fcode;
    struct emu_item *it = NULL;
    if(id->type != XML_ELEMENT_NODE)
      continue;
    if(dest)
      it = ews_resolve_item(ctx, id, &code);
    if(it && copy) {
      it = emu_item_copy(ctx->emu, it, dest);
      code = "ErrorInternalServerError";
    }
    else if(it) {
      emu_item_detach(it);
      it->num = emu_next_num(ctx->emu); /* ids change when an item changes folder */
      it->ck++;
      emu_item_attach(dest, it);
    }
    if(!it) {
      ews_msg_error(ctx, opname, code);
      exs_buf_adds(ctx->out, "<m:Items/>");
    }
    else {
      ews_msg_ok(ctx, opname);
      exs_buf_addf(ctx->out, "<m:Items><t:%s>", ews_item_elem(it));
      ews_write_item_id(ctx->out, it);
      exs_buf_addf(ctx->out, "</t:%s></m:Items>", ews_item_elem(it));
    }
    ews_msg_end(ctx, opname);
  }
  ews_response_end(ctx, opname);
}

void ews_move_item(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  move_or_copy(ctx, op, "MoveItem", false);
}

void ews_copy_item(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  move_or_copy(ctx, op, "CopyItem", true);
}

/* ---- ResolveNames ---- */

void ews_resolve_names(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  char want[256];
  struct emu_mailbox *found[100];
  size_t n = 0;
  const char *w;

  exs_xml_text(exs_xml_child(op, EMU_NS_M, "UnresolvedEntry"), want, sizeof(want));
  w = strncasecmp(want, "smtp:", 5) == 0 ? want + 5 : want;
  for(size_t i = 0; i < ctx->emu->nmailboxes && n < 100; i++) {
    struct emu_mailbox *m = ctx->emu->mailboxes[i];
    if(*w && (strcasecmp(m->smtp, w) == 0 || strncasecmp(m->smtp, w, strlen(w)) == 0 ||
              emu_strcasestr(m->display, w)))
      found[n++] = m;
  }
  ews_response_begin(ctx, "ResolveNames");
  if(n == 0) {
    ews_msg_error(ctx, "ResolveNames", "ErrorNameResolutionNoResults");
  }
  else {
    if(n > 1) {
      exs_buf_adds(ctx->out, "<m:ResolveNamesResponseMessage ResponseClass=\"Warning\">"
                             "<m:MessageText>Multiple results were found.</m:MessageText>"
                             "<m:ResponseCode>ErrorNameResolutionMultipleResults</m:ResponseCode>"
                             "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>");
      snprintf(ctx->response_code, sizeof(ctx->response_code),
               "ErrorNameResolutionMultipleResults");
    }
    else {
      ews_msg_ok(ctx, "ResolveNames");
    }
    exs_buf_addf(ctx->out,
                 "<m:ResolutionSet TotalItemsInView=\"%zu\" "
                 "IncludesLastItemInRange=\"true\">",
                 n);
    for(size_t i = 0; i < n; i++) {
      exs_buf_adds(ctx->out, "<t:Resolution>");
      write_mailbox(ctx, found[i]->smtp);
      exs_buf_adds(ctx->out, "</t:Resolution>");
    }
    exs_buf_adds(ctx->out, "</m:ResolutionSet>");
  }
  ews_msg_end(ctx, "ResolveNames");
  ews_response_end(ctx, "ResolveNames");
}

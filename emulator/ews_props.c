/* ews_props.c - what Exchange derives from an item or folder: extended
 * (MAPI) properties and an item's MIME content.
 *
 * A property a client set is stored on the object and answered as given.
 * Exchange also answers, for any object, the MAPI properties it derives from
 * the object itself (article number, size, flags, modification times, folder
 * counts ...): gateways such as DavMail read messages through them only
 * (PR_INTERNET_ARTICLE_NUMBER is its IMAP UID). Those are computed here, so
 * they are always current. Values are text; an array is one value a line.
 * The MIME of an item without stored MIME is generated: RFC 822 for
 * messages, iCalendar for calendar items. Runs under the world lock
 * (shared) and the locks of the mailboxes the request names (ews.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ews_ops.h"
#include "exsync/clock.h"
#include "exsync/xml.h"

static void rfc2822_date(time_t t, char *buf, size_t len)
{
  struct tm tm;

  gmtime_r(&t, &tm);
  strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The text of a field kept verbatim ("<t:Start>2024-05-02T14:00:00Z</t:Start>"). */
bool ews_frag_text(const struct emu_item *it, const char *name, char *buf, size_t len)
{
  for(const struct emu_frag *f = it->frags; f; f = f->next) {
    const char *gt, *lt;
    if(strcmp(f->name, name) != 0)
      continue;
    gt = strchr(f->xml, '>');
    lt = gt ? strchr(gt, '<') : NULL;
    if(!lt || gt[-1] == '/')
      return false;
    snprintf(buf, len, "%.*s", (int)(lt - gt - 1), gt + 1);
    return true;
  }
  return false;
}

/* A date kept verbatim in a frag ("<t:Start>2024-05-02T14:00:00Z</t:Start>"). */
bool ews_frag_time(const struct emu_item *it, const char *name, time_t *t)
{
  char v[64];

  return ews_frag_text(it, name, v, sizeof(v)) && exs_time_parse(v, t) == 0;
}

static void ical_time(struct exs_buf *o, const char *prop, time_t t)
{
  struct tm tm;
  char b[32];

  gmtime_r(&t, &tm);
  strftime(b, sizeof(b), "%Y%m%dT%H%M%SZ", &tm);
  exs_buf_addf(o, "%s:%s\r\n", prop, b);
}

/* iCalendar text: CR, LF, ',', ';' and '\\' escaped (RFC 5545 3.3.11). */
static void ical_text(struct exs_buf *o, const char *prop, const char *v)
{
  exs_buf_addf(o, "%s:", prop);
  for(const char *p = v ? v : ""; *p; p++) {
    if(*p == '\r')
      continue;
    if(*p == '\n')
      exs_buf_adds(o, "\\n");
    else if(*p == ',' || *p == ';' || *p == '\\')
      exs_buf_addf(o, "\\%c", *p);
    else
      exs_buf_add(o, p, 1);
  }
  exs_buf_adds(o, "\r\n");
}

/* A calendar item as Exchange exports it: an iCalendar object whose
 * VTIMEZONE is the item's start time zone (clients learn the mailbox's time
 * zone this way). The emulator keeps times in UTC, so the zone has no
 * offset. */
static void calendar_mime(const struct emu_item *it, struct exs_buf *o)
{
  char tz[128] = "UTC", uid[256];
  time_t start = it->created, end;
  const struct emu_frag *f;

  for(f = it->frags; f; f = f->next) {
    const char *id;
    if(strcmp(f->name, "StartTimeZone") != 0 || !(id = strstr(f->xml, " Id=\"")))
      continue;
    snprintf(tz, sizeof(tz), "%.*s", (int)strcspn(id + 5, "\""), id + 5);
  }
  ews_frag_time(it, "Start", &start);
  if(!ews_frag_time(it, "End", &end))
    end = start;
  if(!ews_frag_text(it, "UID", uid, sizeof(uid)))
    snprintf(uid, sizeof(uid), "exsync-%llu", (unsigned long long)it->num);
  exs_buf_adds(o, "BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\n"
                  "PRODID:-//exsync//emulator//EN\r\nVERSION:2.0\r\n");
  ical_text(o, "BEGIN:VTIMEZONE\r\nTZID", tz);
  exs_buf_adds(o, "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\nTZOFFSETFROM:+0000\r\n"
                  "TZOFFSETTO:+0000\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
                  "DTSTART:16010101T000000\r\nTZOFFSETFROM:+0000\r\nTZOFFSETTO:+0000\r\n"
                  "END:DAYLIGHT\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\n");
  ical_text(o, "UID", uid);
  ical_text(o, "SUMMARY", it->subject);
  if(it->body && *it->body)
    ical_text(o, "DESCRIPTION", it->body);
  ical_time(o, "DTSTART", start);
  ical_time(o, "DTEND", end);
  ical_time(o, "DTSTAMP", it->created);
  exs_buf_adds(o, "END:VEVENT\r\nEND:VCALENDAR\r\n");
}

/* The stored MIME, or one generated from the fields. */
void ews_item_mime(const struct emu_item *it, struct exs_buf *mime)
{
  char date[64];

  if(it->mime) {
    exs_buf_add(mime, it->mime, it->mime_len);
    return;
  }
  if(it->kind == EMU_KIND_CALENDAR) {
    calendar_mime(it, mime);
    return;
  }
  rfc2822_date(it->sent, date, sizeof(date));
  exs_buf_addf(mime, "From: %s\r\n", it->from ? it->from : "");
  if(it->nto) {
    exs_buf_adds(mime, "To: ");
    for(size_t i = 0; i < it->nto; i++)
      exs_buf_addf(mime, "%s%s", i ? ", " : "", it->to[i]);
    exs_buf_adds(mime, "\r\n");
  }
  if(it->ncc) {
    exs_buf_adds(mime, "Cc: ");
    for(size_t i = 0; i < it->ncc; i++)
      exs_buf_addf(mime, "%s%s", i ? ", " : "", it->cc[i]);
    exs_buf_adds(mime, "\r\n");
  }
  exs_buf_addf(mime, "Subject: %s\r\nDate: %s\r\n", it->subject ? it->subject : "", date);
  if(it->message_id)
    exs_buf_addf(mime, "Message-ID: %s\r\n", it->message_id);
  exs_buf_addf(mime, "MIME-Version: 1.0\r\nContent-Type: %s; charset=\"utf-8\"\r\n\r\n%s\r\n",
               it->body_html ? "text/html" : "text/plain", it->body ? it->body : "");
}

/* MAPI property tags derived from the object. */
enum {
  PR_ITEM_CLASS = 0x001a,
  PR_SUBJECT = 0x0037,
  PR_MESSAGE_DELIVERY_TIME = 0x0e06,
  PR_MESSAGE_FLAGS = 0x0e07,
  PR_MESSAGE_SIZE = 0x0e08,
  PR_INTERNET_ARTICLE_NUMBER = 0x0e23,
  PR_RECORD_KEY = 0x0ff9,
  PR_BODY = 0x1000,
  PR_INTERNET_MESSAGE_ID = 0x1035,
  PR_DISPLAY_NAME = 0x3001,
  PR_CREATION_TIME = 0x3007,
  PR_LAST_MODIFICATION_TIME = 0x3008,
  PR_CONTENT_COUNT = 0x3602,
  PR_CONTENT_UNREAD = 0x3603,
  PR_SUBFOLDERS = 0x360a,
  PR_CONTAINER_CLASS = 0x3613,
  PR_ARTICLE_NUM_NEXT = 0x6751,
  PR_IMAP_LAST_ARTICLE_ID = 0x6752,
  PR_LOCAL_COMMIT_TIME_MAX = 0x670a,
};

enum { MSGFLAG_READ = 0x1, MSGFLAG_UNSENT = 0x8, MSGFLAG_FROMME = 0x20 };

static long tag_of(const struct emu_prop *key)
{
  char *end;
  unsigned long v;

  if(!key->tag || key->dset || key->pset)
    return -1;
  v = strtoul(key->tag, &end, 0);
  return *end || v > 0xffff ? -1 : (long)v;
}

/* PublicStrings "Keywords" is how MAPI sees the categories. */
static bool is_keywords(const struct emu_prop *key)
{
  return key->dset && strcasecmp(key->dset, "PublicStrings") == 0 && key->name &&
         strcmp(key->name, "Keywords") == 0;
}

static void time_ms(struct exs_buf *val, int64_t ms)
{
  char iso[32];

  exs_buf_adds(val, exs_time_iso((time_t)(ms / 1000), iso, sizeof(iso)));
}

static void time_s(struct exs_buf *val, time_t t)
{
  char iso[32];

  exs_buf_adds(val, exs_time_iso(t, iso, sizeof(iso)));
}

static bool derived_item(const struct emu_item *it, long tag, struct exs_buf *val)
{
  switch(tag) {
  case PR_ITEM_CLASS:
    exs_buf_adds(val, it->item_class ? it->item_class : "IPM.Note");
    return true;
  case PR_SUBJECT:
    if(!it->subject)
      return false;
    exs_buf_adds(val, it->subject);
    return true;
  case PR_BODY:
    if(!it->body)
      return false;
    exs_buf_adds(val, it->body);
    return true;
  case PR_INTERNET_MESSAGE_ID:
    if(!it->message_id)
      return false;
    exs_buf_adds(val, it->message_id);
    return true;
  case PR_MESSAGE_DELIVERY_TIME:
    time_s(val, it->received);
    return true;
  case PR_CREATION_TIME:
    time_s(val, it->created);
    return true;
  case PR_LAST_MODIFICATION_TIME:
    time_ms(val, it->mtime_ms);
    return true;
  case PR_MESSAGE_FLAGS: {
    unsigned flags = 0;
    if(it->is_read)
      flags |= MSGFLAG_READ;
    if(it->is_draft)
      flags |= MSGFLAG_UNSENT;
    if(it->folder && it->from && strcasecmp(it->from, it->folder->mbx->smtp) == 0)
      flags |= MSGFLAG_FROMME;
    exs_buf_addf(val, "%u", flags);
    return true;
  }
  case PR_MESSAGE_SIZE: {
    struct exs_buf mime;
    exs_buf_init(&mime, EMU_MAX_BODY / 2);
    ews_item_mime(it, &mime);
    exs_buf_addf(val, "%zu", mime.len);
    exs_buf_free(&mime);
    return true;
  }
  case PR_INTERNET_ARTICLE_NUMBER:
    if(!it->folder || !it->art)
      return false;
    exs_buf_addf(val, "%u", it->art);
    return true;
  case PR_RECORD_KEY: {
    unsigned char key[8];
    for(int i = 0; i < 8; i++)
      key[i] = (unsigned char)(it->num >> (56 - 8 * i));
    exs_base64_encode(val, key, sizeof(key));
    return true;
  }
  default:
    return false;
  }
}

bool ews_item_prop(const struct emu_item *it, const struct emu_prop *key, struct exs_buf *val)
{
  const struct emu_prop *p;

  exs_buf_reset(val);
  if(is_keywords(key)) {
    for(size_t i = 0; i < it->ncat; i++)
      exs_buf_addf(val, "%s%s", i ? "\n" : "", it->categories[i]);
    return it->ncat > 0;
  }
  p = emu_prop_find(it->props, key);
  if(p) {
    exs_buf_adds(val, p->value);
    return true;
  }
  return derived_item(it, tag_of(key), val);
}

bool ews_folder_prop(const struct emu_folder *f, const struct emu_prop *key, struct exs_buf *val)
{
  const struct emu_prop *p = emu_prop_find(f->props, key);
  size_t n = 0;

  exs_buf_reset(val);
  if(p) {
    exs_buf_adds(val, p->value);
    return true;
  }
  switch(tag_of(key)) {
  case PR_DISPLAY_NAME:
    exs_buf_adds(val, f->name ? f->name : "");
    return true;
  case PR_CONTENT_COUNT:
    exs_buf_addf(val, "%zu", f->nitems);
    return true;
  case PR_CONTENT_UNREAD:
    for(size_t i = 0; i < f->nitems; i++)
      n += !f->items[i]->is_read;
    exs_buf_addf(val, "%zu", n);
    return true;
  case PR_SUBFOLDERS:
    for(size_t i = 0; i < f->mbx->nfolders && !n; i++)
      n = f->mbx->folders[i]->parent == f;
    exs_buf_adds(val, n ? "true" : "false");
    return true;
  case PR_CONTAINER_CLASS:
    exs_buf_adds(val, f->folder_class ? f->folder_class : "IPF.Note");
    return true;
  case PR_ARTICLE_NUM_NEXT:
    exs_buf_addf(val, "%u", f->next_art + 1);
    return true;
  case PR_IMAP_LAST_ARTICLE_ID:
    exs_buf_addf(val, "%u", f->next_art);
    return true;
  case PR_LOCAL_COMMIT_TIME_MAX:
  case PR_LAST_MODIFICATION_TIME:
    time_ms(val, f->mtime_ms);
    return true;
  default:
    return false;
  }
}

static bool is_array(const struct emu_prop *key)
{
  return key->type && strlen(key->type) > 5 &&
         strcmp(key->type + strlen(key->type) - 5, "Array") == 0;
}

void ews_write_ext_value(struct exs_buf *o, const struct emu_prop *key, const char *val)
{
  exs_buf_adds(o, "<t:ExtendedProperty><t:ExtendedFieldURI");
#define ATTR(name, field)                                                                          \
  if(key->field) {                                                                                 \
    exs_buf_adds(o, " " name "=\"");                                                               \
    exs_buf_add_xml(o, key->field);                                                                \
    exs_buf_adds(o, "\"");                                                                         \
  }
  ATTR("DistinguishedPropertySetId", dset)
  ATTR("PropertySetId", pset)
  ATTR("PropertyTag", tag)
  ATTR("PropertyName", name)
  ATTR("PropertyId", pid)
  ATTR("PropertyType", type)
#undef ATTR
  exs_buf_adds(o, "/>");
  if(is_array(key)) {
    exs_buf_adds(o, "<t:Values>");
    for(const char *p = val ? val : "";;) {
      const char *nl = strchr(p, '\n');
      size_t l = nl ? (size_t)(nl - p) : strlen(p);
      char *one = strndup(p, l);
      exs_buf_adds(o, "<t:Value>");
      exs_buf_add_xml(o, one ? one : "");
      exs_buf_adds(o, "</t:Value>");
      free(one);
      if(!nl)
        break;
      p = nl + 1;
    }
    exs_buf_adds(o, "</t:Values>");
  }
  else {
    exs_buf_adds(o, "<t:Value>");
    exs_buf_add_xml(o, val ? val : "");
    exs_buf_adds(o, "</t:Value>");
  }
  exs_buf_adds(o, "</t:ExtendedProperty>");
}

void ews_write_item_props(struct exs_buf *o, const struct emu_item *it, const struct ews_shape *s)
{
  struct exs_buf val;

  if(!s->ext)
    return;
  exs_buf_init(&val, EMU_MAX_BODY);
  for(const struct emu_prop *want = s->ext; want; want = want->next)
    if(ews_item_prop(it, want, &val))
      ews_write_ext_value(o, want, val.data ? val.data : "");
  exs_buf_free(&val);
}

void ews_write_folder_props(struct exs_buf *o, const struct emu_folder *f,
                            const struct ews_shape *s)
{
  struct exs_buf val;

  if(!s->ext)
    return;
  exs_buf_init(&val, EMU_MAX_BODY);
  for(const struct emu_prop *want = s->ext; want; want = want->next)
    if(ews_folder_prop(f, want, &val))
      ews_write_ext_value(o, want, val.data ? val.data : "");
  exs_buf_free(&val);
}

char *ews_ext_read_value(xmlNodePtr ep)
{
  xmlNodePtr v = exs_xml_child(ep, EMU_NS_T, "Value");
  xmlNodePtr vs = exs_xml_child(ep, EMU_NS_T, "Values");
  struct exs_buf b;
  char *s;

  if(v || !vs) {
    char *c = v ? (char *)xmlNodeGetContent(v) : NULL;
    s = strdup(c ? c : "");
    xmlFree(c);
    return s;
  }
  exs_buf_init(&b, EMU_MAX_BODY);
  for(xmlNodePtr c = vs->children; c; c = c->next) {
    char *t;
    if(!exs_xml_is(c, EMU_NS_T, "Value"))
      continue;
    t = (char *)xmlNodeGetContent(c);
    exs_buf_addf(&b, "%s%s", b.len ? "\n" : "", t ? t : "");
    xmlFree(t);
  }
  s = b.data ? exs_buf_steal(&b) : strdup("");
  exs_buf_free(&b);
  return s;
}

int ews_item_set_prop(struct emu_item *it, const struct emu_prop *key, const char *value)
{
  char **field = NULL;

  if(is_keywords(key)) {
    emu_strv_free(it->categories, it->ncat);
    it->categories = NULL;
    it->ncat = 0;
    for(const char *p = value; p && *p;) {
      size_t l = strcspn(p, "\n,");
      char *one = strndup(p, l);
      if(one && *one)
        emu_strv_add(&it->categories, &it->ncat, one);
      free(one);
      p += l;
      if(*p)
        p++;
    }
    return 0;
  }
  switch(tag_of(key)) {
  case PR_SUBJECT:
    field = &it->subject;
    break;
  case PR_BODY:
    field = &it->body;
    break;
  case PR_ITEM_CLASS:
    field = &it->item_class;
    break;
  default:
    return emu_prop_set(&it->props, key, value);
  }
  free(*field);
  *field = strdup(value ? value : "");
  return *field ? 0 : -1;
}

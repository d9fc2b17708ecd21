/* ews_sync.c - UpdateItem and SyncFolderItems.
 *
 * Sync states are per folder: "the mailbox change sequence up to which the
 * client has seen changes". Each item carries the sequence at which it
 * entered its folder (created_seq) and at which it last changed (mod_seq);
 * items leaving a folder leave a tombstone. So a state S yields: Create for
 * created_seq > S, Update for mod_seq > S >= created_seq, Delete for
 * tombstones after S of items the client had seen. Runs under the world lock
 * (shared) and the locks of the mailboxes the request names (ews.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ews_ops.h"
#include "exsync/xml.h"

/* ---- UpdateItem ---- */

static char *content_dup(xmlNodePtr n)
{
  char *s = n ? (char *)xmlNodeGetContent(n) : NULL;
  char *d = strdup(s ? s : "");

  xmlFree(s);
  return d;
}

/* The single item element of a Set/AppendToItemField, whatever its type. */
static xmlNodePtr value_item(xmlNodePtr upd)
{
  for(xmlNodePtr c = upd->children; c; c = c->next)
    if(c->type == XML_ELEMENT_NODE && !exs_xml_is(c, EMU_NS_T, "FieldURI") &&
       !exs_xml_is(c, EMU_NS_T, "ExtendedFieldURI") && !exs_xml_is(c, EMU_NS_T, "IndexedFieldURI"))
      return c;
  return NULL;
}

static const char *apply_item_change(struct emu_item *it, xmlNodePtr upd)
{
  bool del = exs_xml_is(upd, EMU_NS_T, "DeleteItemField");
  bool append = exs_xml_is(upd, EMU_NS_T, "AppendToItemField");
  xmlNodePtr ext = exs_xml_child(upd, EMU_NS_T, "ExtendedFieldURI");
  xmlNodePtr fu = exs_xml_child(upd, EMU_NS_T, "FieldURI");
  xmlNodePtr item = value_item(upd);
  char uri[128], buf[256];

  if(ext) {
    char scratch[6][256];
    struct emu_prop key;
    if(ews_ext_uri(ext, &key, scratch) != 0)
      return "ErrorInvalidPropertyRequest";
    if(del) {
      for(struct emu_prop **pp = &it->props; *pp; pp = &(*pp)->next) {
        if(*pp == emu_prop_find(it->props, &key)) {
          struct emu_prop *victim = *pp;
          *pp = victim->next;
          victim->next = NULL;
          emu_prop_free_list(victim);
          break;
        }
      }
      return NULL;
    }
    {
      xmlNodePtr ep = item ? exs_xml_child(item, EMU_NS_T, "ExtendedProperty") : NULL;
      char *v;
      int rc;
      if(!ep)
        return "ErrorInvalidPropertySet";
      v = ews_ext_read_value(ep);
      rc = v ? ews_item_set_prop(it, &key, v) : -1;
      free(v);
      return rc == 0 ? NULL : "ErrorInternalServerError";
    }
  }
  if(!fu)
    return "ErrorInvalidPropertyRequest";
  exs_xml_attr(fu, "FieldURI", uri, sizeof(uri));
  if(strcmp(uri, "item:Subject") == 0) {
    free(it->subject);
    it->subject = del ? NULL : content_dup(exs_xml_child(item, EMU_NS_T, "Subject"));
  }
  else if(strcmp(uri, "item:Body") == 0) {
    xmlNodePtr b = item ? exs_xml_child(item, EMU_NS_T, "Body") : NULL;
    free(it->body);
    it->body = del ? NULL : content_dup(b);
    exs_xml_attr(b, "BodyType", buf, sizeof(buf));
    it->body_html = strcmp(buf, "HTML") == 0;
  }
  else if(strcmp(uri, "item:Categories") == 0) {
    xmlNodePtr cats = item ? exs_xml_child(item, EMU_NS_T, "Categories") : NULL;
    if(!append) {
      emu_strv_free(it->categories, it->ncat);
      it->categories = NULL;
      it->ncat = 0;
    }
    for(xmlNodePtr s = cats && !del ? cats->children : NULL; s; s = s->next)
      if(exs_xml_is(s, EMU_NS_T, "String"))
        emu_strv_add(&it->categories, &it->ncat, exs_xml_text(s, buf, sizeof(buf)));
  }
  else if(strcmp(uri, "message:IsRead") == 0) {
    exs_xml_text(item ? exs_xml_child(item, EMU_NS_T, "IsRead") : NULL, buf, sizeof(buf));
    it->is_read = !del && (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0);
  }
  else if(strcmp(uri, "item:ItemClass") == 0 && !del) {
    free(it->item_class);
    it->item_class = content_dup(exs_xml_child(item, EMU_NS_T, "ItemClass"));
  }
  else if(strcmp(uri, "message:InternetMessageId") == 0 && !del) {
    free(it->message_id);
    it->message_id = content_dup(exs_xml_child(item, EMU_NS_T, "InternetMessageId"));
  }
  else {
    /* calendar, contact and task fields are kept verbatim */
    const char *local = strchr(uri, ':') ? strchr(uri, ':') + 1 : uri;
    int order = emu_field_order(it->kind, local);
    xmlNodePtr v;
    struct exs_buf frag;
    int rc;
    if(order < 0 || it->kind == EMU_KIND_MESSAGE)
      return "ErrorInvalidPropertyRequest";
    if(del)
      return emu_frag_set(it, local, order, NULL) == 0 ? NULL : "ErrorInternalServerError";
    v = item ? exs_xml_child(item, EMU_NS_T, local) : NULL;
    if(!v)
      return "ErrorInvalidPropertySet";
    exs_buf_init(&frag, EMU_MAX_BODY / 4);
    ews_serialize(&frag, v);
    rc = emu_frag_set(it, local, order, frag.data ? frag.data : "");
    exs_buf_free(&frag);
    return rc == 0 ? NULL : "ErrorInternalServerError";
  }
  return NULL;
}

void ews_update_item(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  xmlNodePtr changes = exs_xml_child(op, EMU_NS_M, "ItemChanges");
  char conflict[32];
  bool overwrite;

  exs_xml_attr(op, "ConflictResolution", conflict, sizeof(conflict));
  overwrite = strcmp(conflict, "AlwaysOverwrite") == 0;
  ews_response_begin(ctx, "UpdateItem");
  for(xmlNodePtr ch = changes ? changes->children : NULL; ch; ch = ch->next) {
    const char *code = NULL;
    struct emu_item *it;
    xmlNodePtr id, upds;
    char ck[64], cur[64];
    if(!exs_xml_is(ch, EMU_NS_T, "ItemChange"))
      continue;
    id = exs_xml_child(ch, EMU_NS_T, "ItemId");
    it = id ? ews_resolve_item(ctx, id, &code) : NULL;
    if(!id)
      code = "ErrorInvalidIdMalformed";
    if(it && exs_xml_attr(id, "ChangeKey", ck, sizeof(ck)) && !overwrite) {
      emu_ck_encode('I', it->ck, cur, sizeof(cur));
      if(strcmp(ck, cur) != 0) {
        it = NULL;
        code = "ErrorIrresolvableConflict";
      }
    }
    upds = exs_xml_child(ch, EMU_NS_T, "Updates");
    for(xmlNodePtr u = upds && it ? upds->children : NULL; u && !code; u = u->next)
      if(u->type == XML_ELEMENT_NODE)
        code = apply_item_change(it, u);
    if(!it || code) {
      ews_msg_error(ctx, "UpdateItem", code ? code : "ErrorItemNotFound");
      exs_buf_adds(ctx->out, "<m:Items/>");
    }
    else {
      emu_item_touch(it);
      ews_msg_ok(ctx, "UpdateItem");
      exs_buf_addf(ctx->out, "<m:Items><t:%s>", ews_item_elem(it));
      ews_write_item_id(ctx->out, it);
      exs_buf_addf(ctx->out,
                   "</t:%s></m:Items><m:ConflictResults><t:Count>0</t:Count>"
                   "</m:ConflictResults>",
                   ews_item_elem(it));
    }
    ews_msg_end(ctx, "UpdateItem");
  }
  ews_response_end(ctx, "UpdateItem");
}

/* ---- SyncFolderItems ---- */

static void state_encode(uint64_t folder, uint64_t seq, char *out, size_t len)
{
  char raw[64];
  struct exs_buf b;

  snprintf(raw, sizeof(raw), "exsync-sfi:%016llx:%016llx", (unsigned long long)folder,
           (unsigned long long)seq);
  exs_buf_init(&b, 256);
  exs_base64_encode(&b, (const unsigned char *)raw, strlen(raw));
  snprintf(out, len, "%s", b.data ? b.data : "");
  exs_buf_free(&b);
}

static int state_decode(const char *s, uint64_t *folder, uint64_t *seq)
{
  struct exs_buf b;
  unsigned long long f, q;
  int result = -1;

  exs_buf_init(&b, 256);
  if(exs_base64_decode(&b, s, strlen(s)) == 0 && b.data && b.len == 44 &&
     sscanf(b.data, "exsync-sfi:%16llx:%16llx", &f, &q) == 2) {
    *folder = f;
    *seq = q;
    result = 0;
  }
  exs_buf_free(&b);
  return result;
}

struct change {
  uint64_t seq;
  int kind; /* 0 create, 1 update, 2 delete */
  struct emu_item *it;
  const struct emu_tombstone *t;
};

static int change_cmp(const void *a, const void *b)
{
  const struct change *x = a, *y = b;

  return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

static bool ignored(xmlNodePtr ignore, uint64_t num)
{
  for(xmlNodePtr c = ignore ? ignore->children : NULL; c; c = c->next) {
    char id[256], kind;
    uint64_t n;
    if(!exs_xml_is(c, EMU_NS_T, "ItemId"))
      continue;
    exs_xml_attr(c, "Id", id, sizeof(id));
    if(emu_id_decode(id, &kind, &n) == 0 && kind == 'I' && n == num)
      return true;
  }
  return false;
}

void ews_sync_folder_items(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  struct ews_shape shape;
  xmlNodePtr sid = exs_xml_child(op, EMU_NS_M, "SyncFolderId");
  xmlNodePtr ignore = exs_xml_child(op, EMU_NS_M, "Ignore");
  char state[512], buf[32];
  const char *code = "ErrorFolderNotFound";
  struct emu_folder *f = NULL;
  uint64_t since = 0, sfolder, newseq;
  long max;
  struct change *ch = NULL;
  size_t n = 0, take;

  ews_shape_parse(exs_xml_child(op, EMU_NS_M, "ItemShape"), &shape);
  exs_xml_text(exs_xml_child(op, EMU_NS_M, "SyncState"), state, sizeof(state));
  exs_xml_text(exs_xml_child(op, EMU_NS_M, "MaxChangesReturned"), buf, sizeof(buf));
  max = strtol(buf, NULL, 10);
  if(max < 1 || max > 512)
    max = 512;
  ews_response_begin(ctx, "SyncFolderItems");
  if(sid)
    f = ews_resolve_folder(ctx, exs_xml_first_element(sid), &code);
  if(!f) {
    ews_msg_error(ctx, "SyncFolderItems", code);
    goto done;
  }
  if(state[0] && (state_decode(state, &sfolder, &since) != 0 || sfolder != f->num ||
                  since > f->mbx->change_seq)) {
    ews_msg_error(ctx, "SyncFolderItems", "ErrorInvalidSyncStateData");
    goto done;
  }
  ch = calloc(f->nitems + f->ntombs + 1, sizeof(*ch));
  if(!ch) {
    ews_msg_error(ctx, "SyncFolderItems", "ErrorInternalServerError");
    goto done;
  }
  for(size_t i = 0; i < f->nitems; i++) {
    struct emu_item *it = f->items[i];
    if(it->mod_seq <= since)
      continue;
    ch[n].seq = it->mod_seq;
    ch[n].kind = it->created_seq > since ? 0 : 1;
    ch[n].it = it;
    n++;
  }
  for(size_t i = 0; i < f->ntombs; i++) {
    const struct emu_tombstone *t = &f->tombs[i];
    if(t->seq <= since || t->created_seq > since)
      continue; /* the client never saw it */
    ch[n].seq = t->seq;
    ch[n].kind = 2;
    ch[n].t = t;
    n++;
  }
  qsort(ch, n, sizeof(*ch), change_cmp);
  take = n > (size_t)max ? (size_t)max : n;
  newseq = take == n ? f->mbx->change_seq : ch[take - 1].seq;
  state_encode(f->num, newseq, state, sizeof(state));
  ews_msg_ok(ctx, "SyncFolderItems");
  exs_buf_addf(ctx->out,
               "<m:SyncState>%s</m:SyncState><m:IncludesLastItemInRange>%s"
               "</m:IncludesLastItemInRange><m:Changes>",
               state, take == n ? "true" : "false");
  for(size_t i = 0; i < take; i++) {
    if(ch[i].kind == 2) {
      char id[128], ck[64];
      if(ignored(ignore, ch[i].t->num))
        continue;
      emu_id_encode('I', ch[i].t->num, id, sizeof(id));
      emu_ck_encode('I', ch[i].t->ck, ck, sizeof(ck));
      exs_buf_addf(ctx->out, "<t:Delete><t:ItemId Id=\"%s\" ChangeKey=\"%s\"/></t:Delete>", id, ck);
      continue;
    }
    if(ignored(ignore, ch[i].it->num))
      continue;
    exs_buf_adds(ctx->out, ch[i].kind == 0 ? "<t:Create>" : "<t:Update>");
    ews_write_item(ctx, ch[i].it, &shape, false);
    exs_buf_adds(ctx->out, ch[i].kind == 0 ? "</t:Create>" : "</t:Update>");
  }
  exs_buf_adds(ctx->out, "</m:Changes>");
done:
  free(ch);
  ews_msg_end(ctx, "SyncFolderItems");
  ews_response_end(ctx, "SyncFolderItems");
  ews_shape_free(&shape);
}

/* ---- ConvertId ---- */

/* Id formats: EwsId, EwsLegacyId and OwaId are the emulator's id string;
 * EntryId and StoreId the base64 of its raw bytes, HexEntryId their hex. */
static int id_from_format(const char *fmt, const char *id, char *kind, uint64_t *num)
{
  char ews[256];

  if(!strcmp(fmt, "EwsId") || !strcmp(fmt, "EwsLegacyId") || !strcmp(fmt, "OwaId"))
    return emu_id_decode(id, kind, num);
  if(!strcmp(fmt, "EntryId") || !strcmp(fmt, "StoreId")) {
    snprintf(ews, sizeof(ews), "AAMk%s", id);
    return emu_id_decode(ews, kind, num);
  }
  if(!strcmp(fmt, "HexEntryId")) {
    unsigned char raw[64];
    size_t n = strlen(id) / 2;
    struct exs_buf b;
    int rc;
    if(n >= sizeof(raw) || strlen(id) % 2)
      return -1;
    for(size_t i = 0; i < n; i++) {
      unsigned v;
      if(sscanf(id + 2 * i, "%2x", &v) != 1)
        return -1;
      raw[i] = (unsigned char)v;
    }
    exs_buf_init(&b, 256);
    exs_base64_encode(&b, raw, n);
    snprintf(ews, sizeof(ews), "AAMk%s", b.data ? b.data : "");
    exs_buf_free(&b);
    rc = emu_id_decode(ews, kind, num);
    return rc;
  }
  return -1;
}

static void id_to_format(const char *fmt, char kind, uint64_t num, char *out, size_t len)
{
  char ews[256];

  emu_id_encode(kind, num, ews, sizeof(ews));
  if(!strcmp(fmt, "EntryId") || !strcmp(fmt, "StoreId")) {
    snprintf(out, len, "%s", ews + 4);
  }
  else if(!strcmp(fmt, "HexEntryId")) {
    struct exs_buf b;
    size_t o = 0;
    exs_buf_init(&b, 256);
    exs_base64_decode(&b, ews + 4, strlen(ews + 4));
    for(size_t i = 0; i < b.len && o + 3 < len; i++, o += 2)
      snprintf(out + o, len - o, "%02X", (unsigned char)b.data[i]);
    out[o] = '\0';
    exs_buf_free(&b);
  }
  else {
    snprintf(out, len, "%s", ews);
  }
}

void ews_convert_id(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  xmlNodePtr ids = exs_xml_child(op, EMU_NS_M, "SourceIds");
  char dest[32];

  exs_xml_attr(op, "DestinationFormat", dest, sizeof(dest));
  ews_response_begin(ctx, "ConvertId");
  for(xmlNodePtr a = ids ? ids->children : NULL; a; a = a->next) {
    char fmt[32], id[256], mbx[256], out[256], kind;
    uint64_t num;
    struct emu_mailbox *owner = NULL;
    if(a->type != XML_ELEMENT_NODE)
      continue;
    exs_xml_attr(a, "Format", fmt, sizeof(fmt));
    exs_xml_attr(a, "Id", id, sizeof(id));
    exs_xml_attr(a, "Mailbox", mbx, sizeof(mbx));
    if(id_from_format(fmt, id, &kind, &num) != 0 || (kind != 'I' && kind != 'F')) {
      ews_msg_error(ctx, "ConvertId", "ErrorInvalidIdMalformed");
      ews_msg_end(ctx, "ConvertId");
      continue;
    }
    owner = emu_owner_of(ctx->emu, kind, num); /* its address only: no lock needed */
    id_to_format(dest, kind, num, out, sizeof(out));
    ews_msg_ok(ctx, "ConvertId");
    exs_buf_addf(ctx->out,
                 "<m:AlternateId xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                 "xsi:type=\"t:AlternateIdType\" Format=\"%s\" Id=\"",
                 dest);
    exs_buf_add_xml(ctx->out, out);
    exs_buf_adds(ctx->out, "\" Mailbox=\"");
    exs_buf_add_xml(ctx->out, owner ? owner->smtp : mbx);
    exs_buf_adds(ctx->out, "\"/>");
    ews_msg_end(ctx, "ConvertId");
  }
  ews_response_end(ctx, "ConvertId");
}

/* ---- DeleteFolder ---- */

void ews_delete_folder(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  xmlNodePtr ids = exs_xml_child(op, EMU_NS_M, "FolderIds");
  char type[32];

  exs_xml_attr(op, "DeleteType", type, sizeof(type));
  ews_response_begin(ctx, "DeleteFolder");
  for(xmlNodePtr id = ids ? ids->children : NULL; id; id = id->next) {
    const char *code = NULL;
    struct emu_folder *f;
    if(id->type != XML_ELEMENT_NODE)
      continue;
    f = ews_resolve_folder(ctx, id, &code);
    if(f && f->distinguished)
      code = "ErrorDeleteDistinguishedFolder";
    if(!f || code) {
      ews_msg_error(ctx, "DeleteFolder", code);
    }
    else {
      struct emu_folder *del = emu_folder_distinguished(f->mbx, "deleteditems");
      if(strcmp(type, "MoveToDeletedItems") == 0 && del && f->parent != del) {
        f->parent = del;
        emu_folder_touch(f);
      }
      else {
        emu_folder_remove(f);
      }
      ews_msg_ok(ctx, "DeleteFolder");
    }
    ews_msg_end(ctx, "DeleteFolder");
  }
  ews_response_end(ctx, "DeleteFolder");
}

/* ---- GetUserConfiguration ---- */

/* Only OWA.UserOptions exists (DavMail reads its timezone): a dictionary
 * with timezone = UTC. Other names: ErrorItemNotFound. */
void ews_get_user_configuration(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  xmlNodePtr name = exs_xml_child(op, EMU_NS_M, "UserConfigurationName");
  xmlNodePtr fid = name ? exs_xml_first_element(name) : NULL;
  const char *code = NULL;
  char n[128];

  exs_xml_attr(name, "Name", n, sizeof(n));
  ews_response_begin(ctx, "GetUserConfiguration");
  if(!fid || !ews_resolve_folder(ctx, fid, &code) || strcmp(n, "OWA.UserOptions") != 0) {
    ews_msg_error(ctx, "GetUserConfiguration", code ? code : "ErrorItemNotFound");
  }
  else {
    ews_msg_ok(ctx, "GetUserConfiguration");
    exs_buf_adds(ctx->out,
                 "<m:UserConfiguration><t:UserConfigurationName Name=\"OWA.UserOptions\">");
    ews_serialize(ctx->out, fid);
    exs_buf_adds(ctx->out, "</t:UserConfigurationName><t:Dictionary><t:DictionaryEntry>"
                           "<t:DictionaryKey><t:Type>String</t:Type><t:Value>timezone</t:Value>"
                           "</t:DictionaryKey><t:DictionaryValue><t:Type>String</t:Type>"
                           "<t:Value>UTC</t:Value></t:DictionaryValue></t:DictionaryEntry>"
                           "</t:Dictionary></m:UserConfiguration>");
  }
  ews_msg_end(ctx, "GetUserConfiguration");
  ews_response_end(ctx, "GetUserConfiguration");
}

/* ---- GetUserPhoto ---- */

/* No mailbox has a photo: ErrorItemNotFound, HasChanged false (DavMail asks
 * for the owner's photo when a CardDAV client lists contacts). */
void ews_get_user_photo(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  (void)op;
  exs_buf_adds(ctx->out, "<m:GetUserPhotoResponse xmlns:m=\"" EMU_NS_M "\" ResponseClass=\"Error\">"
                         "<m:MessageText>");
  exs_buf_add_xml(ctx->out, ews_code_text("ErrorItemNotFound"));
  exs_buf_adds(ctx->out, "</m:MessageText><m:ResponseCode>ErrorItemNotFound</m:ResponseCode>"
                         "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
                         "<m:HasChanged>false</m:HasChanged></m:GetUserPhotoResponse>");
  snprintf(ctx->response_code, sizeof(ctx->response_code), "ErrorItemNotFound");
}

/* ews_sync.c - UpdateItem and SyncFolderItems.
 *
 * Sync states are per folder: "the mailbox change sequence up to which the
 * client has seen changes". Each item carries the sequence at which it
 * entered its folder (created_seq) and at which it last changed (mod_seq);
 * items leaving a folder leave a tombstone. So a state S yields: Create for
 * created_seq > S, Update for mod_seq > S >= created_seq, Delete for
 * tombstones after S of items the client had seen. Runs under emu->lock.
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
       !exs_xml_is(c, EMU_NS_T, "ExtendedFieldURI") &&
       !exs_xml_is(c, EMU_NS_T, "IndexedFieldURI"))
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
      xmlNodePtr val = ep ? exs_xml_child(ep, EMU_NS_T, "Value") : NULL;
      char *v;
      int rc;
      if(!val)
        return "ErrorInvalidPropertySet";
      v = content_dup(val);
      rc = v ? emu_prop_set(&it->props, &key, v) : -1;
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
  } else if(strcmp(uri, "item:Body") == 0) {
    xmlNodePtr b = item ? exs_xml_child(item, EMU_NS_T, "Body") : NULL;
    free(it->body);
    it->body = del ? NULL : content_dup(b);
    exs_xml_attr(b, "BodyType", buf, sizeof(buf));
    it->body_html = strcmp(buf, "HTML") == 0;
  } else if(strcmp(uri, "item:Categories") == 0) {
    xmlNodePtr cats = item ? exs_xml_child(item, EMU_NS_T, "Categories") : NULL;
    if(!append) {
      emu_strv_free(it->categories, it->ncat);
      it->categories = NULL;
      it->ncat = 0;
    }
    for(xmlNodePtr s = cats && !del ? cats->children : NULL; s; s = s->next)
      if(exs_xml_is(s, EMU_NS_T, "String"))
        emu_strv_add(&it->categories, &it->ncat, exs_xml_text(s, buf, sizeof(buf)));
  } else if(strcmp(uri, "message:IsRead") == 0) {
    exs_xml_text(item ? exs_xml_child(item, EMU_NS_T, "IsRead") : NULL, buf, sizeof(buf));
    it->is_read = !del && (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0);
  } else if(strcmp(uri, "item:ItemClass") == 0 && !del) {
    free(it->item_class);
    it->item_class = content_dup(exs_xml_child(item, EMU_NS_T, "ItemClass"));
  } else if(strcmp(uri, "message:InternetMessageId") == 0 && !del) {
    free(it->message_id);
    it->message_id = content_dup(exs_xml_child(item, EMU_NS_T, "InternetMessageId"));
  } else {
    return "ErrorInvalidPropertyRequest";
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
    } else {
      emu_item_touch(it);
      ews_msg_ok(ctx, "UpdateItem");
      exs_buf_adds(ctx->out, "<m:Items><t:Message>");
      ews_write_item_id(ctx->out, it);
      exs_buf_adds(ctx->out, "</t:Message></m:Items><m:ConflictResults><t:Count>0</t:Count>"
                             "</m:ConflictResults>");
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
  int kind;  /* 0 create, 1 update, 2 delete */
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
  exs_buf_addf(ctx->out, "<m:SyncState>%s</m:SyncState><m:IncludesLastItemInRange>%s"
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

/* ews_folder.c - shapes, folder id resolution and the folder operations
 * (GetFolder, FindFolder, CreateFolder, UpdateFolder, SyncFolderHierarchy).
 * Answers are appended to ctx->out in schema order; runs under the world lock (shared) and the
 * locks of the mailboxes the request names (ews.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ews_ops.h"
#include "exsync/xml.h"

/* ---- shapes ---- */

static const struct {
  const char *uri;
  unsigned long bit;
} field_bits[] = {
    {"folder:FolderId", EF_FOLDER_ID},
    {"folder:ParentFolderId", EF_PARENT},
    {"folder:FolderClass", EF_FOLDER_CLASS},
    {"folder:DisplayName", EF_DISPLAY_NAME},
    {"folder:TotalCount", EF_TOTAL},
    {"folder:ChildFolderCount", EF_CHILDREN},
    {"folder:UnreadCount", EF_UNREAD},
    {"item:ItemId", EI_ITEM_ID},
    {"item:ParentFolderId", EI_PARENT},
    {"item:ItemClass", EI_CLASS},
    {"item:Subject", EI_SUBJECT},
    {"item:Body", EI_BODY},
    {"item:DateTimeReceived", EI_RECEIVED},
    {"item:Size", EI_SIZE},
    {"item:Categories", EI_CATEGORIES},
    {"item:IsDraft", EI_IS_DRAFT},
    {"item:DateTimeSent", EI_SENT},
    {"item:DateTimeCreated", EI_CREATED},
    {"item:HasAttachments", EI_HAS_ATTACH},
    {"item:MimeContent", EI_MIME},
    {"message:Sender", EM_SENDER},
    {"message:ToRecipients", EM_TO},
    {"message:CcRecipients", EM_CC},
    {"message:From", EM_FROM},
    {"message:InternetMessageId", EM_MSGID},
    {"message:IsRead", EM_IS_READ},
};

unsigned long ews_field_bit(const char *uri)
{
  for(size_t i = 0; i < sizeof(field_bits) / sizeof(field_bits[0]); i++)
    if(strcmp(field_bits[i].uri, uri) == 0)
      return field_bits[i].bit;
  return 0;
}

int ews_ext_uri(xmlNodePtr uri, struct emu_prop *key, char scratch[6][256])
{
  memset(key, 0, sizeof(*key));
  key->dset = exs_xml_attr(uri, "DistinguishedPropertySetId", scratch[0], 256);
  key->pset = exs_xml_attr(uri, "PropertySetId", scratch[1], 256);
  key->tag = exs_xml_attr(uri, "PropertyTag", scratch[2], 256);
  key->name = exs_xml_attr(uri, "PropertyName", scratch[3], 256);
  key->pid = exs_xml_attr(uri, "PropertyId", scratch[4], 256);
  key->type = exs_xml_attr(uri, "PropertyType", scratch[5], 256);
  if(!key->tag && !key->name && !key->pid)
    return -1;
  return 0;
}

void ews_shape_parse(xmlNodePtr shape, struct ews_shape *out)
{
  char buf[64];
  xmlNodePtr add;

  memset(out, 0, sizeof(*out));
  if(!shape)
    return;
  exs_xml_text(exs_xml_child(shape, EMU_NS_T, "BaseShape"), buf, sizeof(buf));
  out->base = strcmp(buf, "AllProperties") == 0 ? 2 : strcmp(buf, "Default") == 0 ? 1 : 0;
  exs_xml_text(exs_xml_child(shape, EMU_NS_T, "IncludeMimeContent"), buf, sizeof(buf));
  out->mime = strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0;
  exs_xml_text(exs_xml_child(shape, EMU_NS_T, "BodyType"), buf, sizeof(buf));
  out->body_text = strcmp(buf, "Text") == 0;
  add = exs_xml_child(shape, EMU_NS_T, "AdditionalProperties");
  for(xmlNodePtr c = add ? add->children : NULL; c; c = c->next) {
    if(c->type != XML_ELEMENT_NODE)
      continue;
    if(exs_xml_is(c, EMU_NS_T, "FieldURI")) {
      char uri[128];
      unsigned long bit;
      exs_xml_attr(c, "FieldURI", uri, sizeof(uri));
      bit = ews_field_bit(uri);
      out->fields |= bit;
      if(!bit && strchr(uri, ':') &&
         out->nnames < (int)(sizeof(out->names) / sizeof(out->names[0])))
        snprintf(out->names[out->nnames++], sizeof(out->names[0]), "%s", strchr(uri, ':') + 1);
    }
    else if(exs_xml_is(c, EMU_NS_T, "IndexedFieldURI")) {
      /* contacts:EmailAddress[EmailAddress1] and friends name one entry of
       * a dictionary; the dictionary is answered whole */
      static const char *const dicts[][2] = {{"contacts:EmailAddress", "EmailAddresses"},
                                             {"contacts:PhysicalAddress", "PhysicalAddresses"},
                                             {"contacts:PhoneNumber", "PhoneNumbers"},
                                             {"contacts:ImAddress", "ImAddresses"}};
      char uri[128];
      exs_xml_attr(c, "FieldURI", uri, sizeof(uri));
      for(size_t d = 0; d < sizeof(dicts) / sizeof(dicts[0]); d++)
        if(!strncmp(uri, dicts[d][0], strlen(dicts[d][0])) &&
           out->nnames < (int)(sizeof(out->names) / sizeof(out->names[0])))
          snprintf(out->names[out->nnames++], sizeof(out->names[0]), "%s", dicts[d][1]);
    }
    else if(exs_xml_is(c, EMU_NS_T, "ExtendedFieldURI")) {
      char scratch[6][256];
      struct emu_prop key;
      if(ews_ext_uri(c, &key, scratch) == 0)
        emu_prop_set(&out->ext, &key, "");
    }
  }
  if(out->fields & EI_MIME)
    out->mime = true;
}

void ews_shape_free(struct ews_shape *s)
{
  emu_prop_free_list(s->ext);
  s->ext = NULL;
}

/* ---- ids and access ---- */

const char *ews_check_mailbox(struct emu_ews_ctx *ctx, struct emu_mailbox *m)
{
  if(!m || !emu_ews_may_touch(ctx, m))
    return "ErrorNonExistentMailbox";
  if(m == ctx->acting)
    return NULL;
  if(emu_mailbox_is_delegate(m, ctx->effective_login))
    return NULL;
  return "ErrorAccessDenied";
}

struct emu_folder *ews_resolve_folder(struct emu_ews_ctx *ctx, xmlNodePtr id, const char **code)
{
  char buf[256];
  struct emu_folder *f = NULL;
  struct emu_mailbox *m;

  if(exs_xml_is(id, EMU_NS_T, "DistinguishedFolderId")) {
    xmlNodePtr mbx = exs_xml_child(id, EMU_NS_T, "Mailbox");
    if(mbx) {
      exs_xml_text(exs_xml_child(mbx, EMU_NS_T, "EmailAddress"), buf, sizeof(buf));
      m = emu_mailbox_find(ctx->emu, buf);
    }
    else {
      m = ctx->acting;
    }
    if((*code = ews_check_mailbox(ctx, m)) != NULL)
      return NULL;
    exs_xml_attr(id, "Id", buf, sizeof(buf));
    f = emu_folder_distinguished(m, buf);
    if(!f && strcmp(buf, "root") == 0)
      f = emu_folder_distinguished(m, "msgfolderroot");
  }
  else if(exs_xml_is(id, EMU_NS_T, "FolderId")) {
    char kind;
    uint64_t num;
    exs_xml_attr(id, "Id", buf, sizeof(buf));
    if(emu_id_decode(buf, &kind, &num) != 0 || kind != 'F') {
      *code = "ErrorInvalidIdMalformed";
      return NULL;
    }
    /* only a folder of a mailbox this request locked is looked at */
    m = emu_owner_of(ctx->emu, 'F', num);
    if(m && (*code = ews_check_mailbox(ctx, m)) != NULL)
      return NULL;
    f = m ? emu_folder_by_num(ctx->emu, num) : NULL;
  }
  else {
    *code = "ErrorInvalidIdMalformed";
    return NULL;
  }
  if(!f) {
    *code = "ErrorFolderNotFound";
    return NULL;
  }
  if(f->access_denied) {
    *code = "ErrorAccessDenied";
    return NULL;
  }
  *code = NULL;
  return f;
}

void ews_write_folder_id(struct exs_buf *o, const char *elem, const struct emu_folder *f)
{
  char id[128], ck[64];

  emu_id_encode('F', f->num, id, sizeof(id));
  emu_ck_encode('F', f->ck, ck, sizeof(ck));
  exs_buf_addf(o, "<t:%s Id=\"%s\" ChangeKey=\"%s\"/>", elem, id, ck);
}

static const char *folder_elem(const struct emu_folder *f)
{
  if(strncmp(f->folder_class, "IPF.Appointment", 15) == 0)
    return "CalendarFolder";
  if(strncmp(f->folder_class, "IPF.Contact", 11) == 0)
    return "ContactsFolder";
  if(strncmp(f->folder_class, "IPF.Task", 8) == 0)
    return "TasksFolder";
  return "Folder";
}

static size_t child_count(const struct emu_folder *f)
{
  size_t n = 0;

  for(size_t i = 0; i < f->mbx->nfolders; i++)
    if(f->mbx->folders[i]->parent == f)
      n++;
  return n;
}

void ews_write_folder(struct emu_ews_ctx *ctx, const struct emu_folder *f,
                      const struct ews_shape *s)
{
  struct exs_buf *o = ctx->out;
  const char *elem = folder_elem(f);
  bool dflt = s->base >= 1, all = s->base == 2;
  size_t unread = 0;

  exs_buf_addf(o, "<t:%s>", elem);
  ews_write_folder_id(o, "FolderId", f);
  if((all || (s->fields & EF_PARENT)) && f->parent)
    ews_write_folder_id(o, "ParentFolderId", f->parent);
  if(all || (s->fields & EF_FOLDER_CLASS)) {
    exs_buf_adds(o, "<t:FolderClass>");
    exs_buf_add_xml(o, f->folder_class);
    exs_buf_adds(o, "</t:FolderClass>");
  }
  if(dflt || (s->fields & EF_DISPLAY_NAME)) {
    exs_buf_adds(o, "<t:DisplayName>");
    exs_buf_add_xml(o, f->name);
    exs_buf_adds(o, "</t:DisplayName>");
  }
  if(dflt || (s->fields & EF_TOTAL))
    exs_buf_addf(o, "<t:TotalCount>%zu</t:TotalCount>", f->nitems);
  if(dflt || (s->fields & EF_CHILDREN))
    exs_buf_addf(o, "<t:ChildFolderCount>%zu</t:ChildFolderCount>", child_count(f));
  ews_write_folder_props(o, f, s);
  if((dflt || (s->fields & EF_UNREAD)) &&
     (strcmp(elem, "Folder") == 0 || strcmp(elem, "TasksFolder") == 0)) {
    for(size_t i = 0; i < f->nitems; i++)
      if(!f->items[i]->is_read)
        unread++;
    exs_buf_addf(o, "<t:UnreadCount>%zu</t:UnreadCount>", unread);
  }
  exs_buf_addf(o, "</t:%s>", elem);
}

/* ---- GetFolder ---- */

void ews_get_folder(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  struct ews_shape shape;
  xmlNodePtr ids = exs_xml_child(op, EMU_NS_M, "FolderIds");

  ews_shape_parse(exs_xml_child(op, EMU_NS_M, "FolderShape"), &shape);
  ews_response_begin(ctx, "GetFolder");
  for(xmlNodePtr id = ids ? ids->children : NULL; id; id = id->next) {
    const char *code;
    struct emu_folder *f;
    if(id->type != XML_ELEMENT_NODE)
      continue;
    f = ews_resolve_folder(ctx, id, &code);
    if(!f) {
      ews_msg_error(ctx, "GetFolder", code);
    }
    else {
      ews_msg_ok(ctx, "GetFolder");
      exs_buf_adds(ctx->out, "<m:Folders>");
      ews_write_folder(ctx, f, &shape);
      exs_buf_adds(ctx->out, "</m:Folders>");
    }
    ews_msg_end(ctx, "GetFolder");
  }
  ews_response_end(ctx, "GetFolder");
  ews_shape_free(&shape);
}

/* ---- FindFolder ---- */

static bool folder_matches(const struct emu_folder *f, xmlNodePtr restr)
{
  xmlNodePtr r = restr ? exs_xml_first_element(restr) : NULL;
  char uri[128], want[512];

  if(!r)
    return true;
  if(exs_xml_is(r, EMU_NS_T, "IsEqualTo") || exs_xml_is(r, EMU_NS_T, "Contains")) {
    xmlNodePtr fu = exs_xml_child(r, EMU_NS_T, "FieldURI");
    xmlNodePtr c = exs_xml_path(r, EMU_NS_T, "FieldURIOrConstant/Constant");
    if(!c)
      c = exs_xml_child(r, EMU_NS_T, "Constant");
    exs_xml_attr(fu, "FieldURI", uri, sizeof(uri));
    exs_xml_attr(c, "Value", want, sizeof(want));
    if(strcmp(uri, "folder:DisplayName") == 0) {
      if(exs_xml_is(r, EMU_NS_T, "IsEqualTo"))
        return strcasecmp(f->name, want) == 0;
      return emu_strcasestr(f->name, want) != NULL;
    }
    if(strcmp(uri, "folder:FolderClass") == 0)
      return strcasecmp(f->folder_class, want) == 0;
  }
  return true;
}

static bool is_under(const struct emu_folder *f, const struct emu_folder *parent, bool deep)
{
  if(!deep)
    return f->parent == parent;
  for(const struct emu_folder *p = f->parent; p; p = p->parent)
    if(p == parent)
      return true;
  return false;
}

void ews_find_folder(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  struct ews_shape shape;
  xmlNodePtr ids = exs_xml_child(op, EMU_NS_M, "ParentFolderIds");
  xmlNodePtr restr = exs_xml_child(op, EMU_NS_M, "Restriction");
  char trav[32];
  bool deep;

  exs_xml_attr(op, "Traversal", trav, sizeof(trav));
  deep = strcmp(trav, "Deep") == 0;
  ews_shape_parse(exs_xml_child(op, EMU_NS_M, "FolderShape"), &shape);
  ews_response_begin(ctx, "FindFolder");
  for(xmlNodePtr id = ids ? ids->children : NULL; id; id = id->next) {
    const char *code;
    struct emu_folder *parent;
    size_t n = 0;
    if(id->type != XML_ELEMENT_NODE)
      continue;
    parent = ews_resolve_folder(ctx, id, &code);
    if(!parent) {
      ews_msg_error(ctx, "FindFolder", code);
      ews_msg_end(ctx, "FindFolder");
      continue;
    }
    for(size_t i = 0; i < parent->mbx->nfolders; i++) {
      struct emu_folder *f = parent->mbx->folders[i];
      if(is_under(f, parent, deep) && folder_matches(f, restr))
        n++;
    }
    ews_msg_ok(ctx, "FindFolder");
    exs_buf_addf(ctx->out,
                 "<m:RootFolder IndexedPagingOffset=\"%zu\" TotalItemsInView=\"%zu\" "
                 "IncludesLastItemInRange=\"true\"><t:Folders>",
                 n, n);
    for(size_t i = 0; i < parent->mbx->nfolders; i++) {
      struct emu_folder *f = parent->mbx->folders[i];
      if(is_under(f, parent, deep) && folder_matches(f, restr))
        ews_write_folder(ctx, f, &shape);
    }
    exs_buf_adds(ctx->out, "</t:Folders></m:RootFolder>");
    ews_msg_end(ctx, "FindFolder");
  }
  ews_response_end(ctx, "FindFolder");
  ews_shape_free(&shape);
}

/* ---- CreateFolder ---- */

void ews_create_folder(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  xmlNodePtr pid = exs_xml_child(op, EMU_NS_M, "ParentFolderId");
  xmlNodePtr folders = exs_xml_child(op, EMU_NS_M, "Folders");
  const char *code = NULL;
  struct emu_folder *parent = NULL;
  struct ews_shape idonly;

  memset(&idonly, 0, sizeof(idonly));
  if(pid)
    parent = ews_resolve_folder(ctx, exs_xml_first_element(pid), &code);
  ews_response_begin(ctx, "CreateFolder");
  for(xmlNodePtr fn = folders ? folders->children : NULL; fn; fn = fn->next) {
    char name[256], cls[64];
    struct emu_folder *f = NULL;
    if(fn->type != XML_ELEMENT_NODE)
      continue;
    if(!parent) {
      ews_msg_error(ctx, "CreateFolder", code ? code : "ErrorFolderNotFound");
      ews_msg_end(ctx, "CreateFolder");
      continue;
    }
    exs_xml_text(exs_xml_child(fn, EMU_NS_T, "DisplayName"), name, sizeof(name));
    exs_xml_text(exs_xml_child(fn, EMU_NS_T, "FolderClass"), cls, sizeof(cls));
    if(!cls[0])
      snprintf(cls, sizeof(cls), "%s",
               exs_xml_is(fn, EMU_NS_T, "CalendarFolder")   ? "IPF.Appointment"
               : exs_xml_is(fn, EMU_NS_T, "ContactsFolder") ? "IPF.Contact"
               : exs_xml_is(fn, EMU_NS_T, "TasksFolder")    ? "IPF.Task"
                                                            : "IPF.Note");
    for(size_t i = 0; i < parent->mbx->nfolders; i++) {
      struct emu_folder *s = parent->mbx->folders[i];
      if(s->parent == parent && strcasecmp(s->name, name) == 0)
        f = s;
    }
    if(f || !name[0]) {
      ews_msg_error(ctx, "CreateFolder", f ? "ErrorFolderExists" : "ErrorInvalidOperation");
      ews_msg_end(ctx, "CreateFolder");
      continue;
    }
    f = emu_folder_add(ctx->emu, parent->mbx, parent, NULL, name, cls);
    if(!f) {
      ews_msg_error(ctx, "CreateFolder", "ErrorInternalServerError");
      ews_msg_end(ctx, "CreateFolder");
      continue;
    }
    parent->ck++;
    ews_msg_ok(ctx, "CreateFolder");
    exs_buf_adds(ctx->out, "<m:Folders>");
    ews_write_folder(ctx, f, &idonly);
    exs_buf_adds(ctx->out, "</m:Folders>");
    ews_msg_end(ctx, "CreateFolder");
  }
  ews_response_end(ctx, "CreateFolder");
}

/* ---- UpdateFolder ---- */

/* Apply one Set/Delete/AppendToFolderField to f; returns NULL or an error code. */
static const char *apply_folder_change(struct emu_folder *f, xmlNodePtr upd)
{
  bool del = exs_xml_is(upd, EMU_NS_T, "DeleteFolderField");
  xmlNodePtr ext = exs_xml_child(upd, EMU_NS_T, "ExtendedFieldURI");
  xmlNodePtr fu = exs_xml_child(upd, EMU_NS_T, "FieldURI");
  xmlNodePtr folder = NULL;

  for(xmlNodePtr c = upd->children; c; c = c->next)
    if(c->type == XML_ELEMENT_NODE && !exs_xml_is(c, EMU_NS_T, "ExtendedFieldURI") &&
       !exs_xml_is(c, EMU_NS_T, "FieldURI") && !exs_xml_is(c, EMU_NS_T, "IndexedFieldURI"))
      folder = c;
  if(ext) {
    char scratch[6][256];
    struct emu_prop key;
    if(ews_ext_uri(ext, &key, scratch) != 0)
      return "ErrorInvalidPropertyRequest";
    if(del) {
      struct emu_prop **pp = &f->props;
      while(*pp) {
        if(*pp == emu_prop_find(f->props, &key)) {
          struct emu_prop *victim = *pp;
          *pp = victim->next;
          victim->next = NULL;
          emu_prop_free_list(victim);
          break;
        }
        pp = &(*pp)->next;
      }
      return NULL;
    }
    /* the value sits in Folder/ExtendedProperty/Value */
    {
      xmlNodePtr ep = folder ? exs_xml_child(folder, EMU_NS_T, "ExtendedProperty") : NULL;
      char *v;
      int rc;
      if(!ep)
        return "ErrorInvalidPropertySet";
      v = ews_ext_read_value(ep);
      rc = v ? emu_prop_set(&f->props, &key, v) : -1;
      free(v);
      return rc == 0 ? NULL : "ErrorInternalServerError";
    }
  }
  if(fu) {
    char uri[128];
    exs_xml_attr(fu, "FieldURI", uri, sizeof(uri));
    if(strcmp(uri, "folder:DisplayName") == 0 && !del) {
      char name[256];
      exs_xml_text(folder ? exs_xml_child(folder, EMU_NS_T, "DisplayName") : NULL, name,
                   sizeof(name));
      if(!name[0])
        return "ErrorInvalidPropertySet";
      free(f->name);
      f->name = strdup(name);
      return NULL;
    }
    return "ErrorInvalidPropertyUpdateSentinel";
  }
  return "ErrorInvalidPropertyRequest";
}

void ews_update_folder(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  xmlNodePtr changes = exs_xml_child(op, EMU_NS_M, "FolderChanges");
  struct ews_shape idonly;

  memset(&idonly, 0, sizeof(idonly));
  ews_response_begin(ctx, "UpdateFolder");
  for(xmlNodePtr ch = changes ? changes->children : NULL; ch; ch = ch->next) {
    const char *code = NULL;
    struct emu_folder *f = NULL;
    xmlNodePtr upds;
    if(ch->type != XML_ELEMENT_NODE)
      continue;
    for(xmlNodePtr c = ch->children; c && !f && !code; c = c->next)
      if(c->type == XML_ELEMENT_NODE && !exs_xml_is(c, EMU_NS_T, "Updates"))
        f = ews_resolve_folder(ctx, c, &code);
    upds = exs_xml_child(ch, EMU_NS_T, "Updates");
    for(xmlNodePtr u = upds ? upds->children : NULL; f && !code && u; u = u->next)
      if(u->type == XML_ELEMENT_NODE)
        code = apply_folder_change(f, u);
    if(!f || code) {
      ews_msg_error(ctx, "UpdateFolder", code ? code : "ErrorFolderNotFound");
    }
    else {
      emu_folder_touch(f);
      ews_msg_ok(ctx, "UpdateFolder");
      exs_buf_adds(ctx->out, "<m:Folders>");
      ews_write_folder(ctx, f, &idonly);
      exs_buf_adds(ctx->out, "</m:Folders>");
    }
    ews_msg_end(ctx, "UpdateFolder");
  }
  ews_response_end(ctx, "UpdateFolder");
}

/* ---- SyncFolderHierarchy ---- */

/* The sync state is the mailbox's hierarchy sequence: folders created
 * since are reported as Create, folders whose own properties changed (name,
 * extended properties, moved to Deleted Items) as Update, folders removed as
 * Delete. A folder created and removed between two syncs is not reported. */
void ews_sync_folder_hierarchy(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  struct ews_shape shape;
  xmlNodePtr sid = exs_xml_child(op, EMU_NS_M, "SyncFolderId");
  char state[256];
  const char *code = NULL;
  struct emu_folder *root;
  struct emu_mailbox *m;
  uint64_t since = 0;

  ews_shape_parse(exs_xml_child(op, EMU_NS_M, "FolderShape"), &shape);
  exs_xml_text(exs_xml_child(op, EMU_NS_M, "SyncState"), state, sizeof(state));
  ews_response_begin(ctx, "SyncFolderHierarchy");
  if(sid) {
    root = ews_resolve_folder(ctx, exs_xml_first_element(sid), &code);
  }
  else {
    code = ews_check_mailbox(ctx, ctx->acting);
    root = code ? NULL : emu_folder_distinguished(ctx->acting, "msgfolderroot");
    if(!root && !code)
      code = "ErrorFolderNotFound";
  }
  if(!root) {
    ews_msg_error(ctx, "SyncFolderHierarchy", code);
    goto done;
  }
  m = root->mbx;
  if(state[0]) {
    char kind;
    if(emu_id_decode(state, &kind, &since) != 0 || kind != 'H' || since > m->hier_seq) {
      ews_msg_error(ctx, "SyncFolderHierarchy", "ErrorInvalidSyncStateData");
      goto done;
    }
  }
  {
    char newstate[128];
    emu_id_encode('H', m->hier_seq, newstate, sizeof(newstate));
    ews_msg_ok(ctx, "SyncFolderHierarchy");
    exs_buf_addf(ctx->out,
                 "<m:SyncState>%s</m:SyncState>"
                 "<m:IncludesLastFolderInRange>true</m:IncludesLastFolderInRange>"
                 "<m:Changes>",
                 newstate);
  }
  for(size_t i = 0; i < m->nfolders; i++) {
    struct emu_folder *f = m->folders[i];
    bool created = f->created_hseq > since;
    if((!created && f->hseq <= since) || !is_under(f, root, true))
      continue;
    exs_buf_adds(ctx->out, created ? "<t:Create>" : "<t:Update>");
    ews_write_folder(ctx, f, &shape);
    exs_buf_adds(ctx->out, created ? "</t:Create>" : "</t:Update>");
  }
  for(size_t i = 0; since && i < m->nftombs; i++) {
    const struct emu_tombstone *t = &m->ftombs[i];
    char id[128], ck[64];
    if(t->seq <= since || t->created_seq > since)
      continue;
    emu_id_encode('F', t->num, id, sizeof(id));
    emu_ck_encode('F', t->ck, ck, sizeof(ck));
    exs_buf_addf(ctx->out, "<t:Delete><t:FolderId Id=\"%s\" ChangeKey=\"%s\"/></t:Delete>", id, ck);
  }
  exs_buf_adds(ctx->out, "</m:Changes>");
done:
  ews_msg_end(ctx, "SyncFolderHierarchy");
  ews_response_end(ctx, "SyncFolderHierarchy");
  ews_shape_free(&shape);
}

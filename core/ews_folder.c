/* ews_folder.c - folder operations beyond GetFolder: FindFolder,
 * CreateFolder, UpdateFolder (extended properties), GetFolder with extended
 * properties, SyncFolderHierarchy; and the extended-property writers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/ews.h"
#include "exsync/xml.h"
#include "ews_internal.h"

const struct exs_ews_extprop exs_ews_prop_org_id = {"PublicStrings", "exsync.OrgId", NULL,
                                                    "String"};
const struct exs_ews_extprop exs_ews_prop_last_sync = {"PublicStrings", "exsync.LastSync", NULL,
                                                       "SystemTime"};

int exs_ews_write_extprop_uri(struct exs_buf *b, const struct exs_ews_extprop *p)
{
  int r = 0;

  r |= exs_buf_adds(b, "<t:ExtendedFieldURI");
  if(p->tag) {
    r |= exs_buf_adds(b, " PropertyTag=\"");
    r |= exs_buf_add_xml(b, p->tag);
    r |= exs_buf_adds(b, "\"");
  }
  else {
    r |= exs_buf_adds(b, " DistinguishedPropertySetId=\"");
    r |= exs_buf_add_xml(b, p->set_id ? p->set_id : "PublicStrings");
    r |= exs_buf_adds(b, "\" PropertyName=\"");
    r |= exs_buf_add_xml(b, p->name ? p->name : "");
    r |= exs_buf_adds(b, "\"");
  }
  r |= exs_buf_adds(b, " PropertyType=\"");
  r |= exs_buf_add_xml(b, p->type ? p->type : "String");
  r |= exs_buf_adds(b, "\"/>");
  return r ? -1 : 0;
}

int exs_ews_write_extprop_value(struct exs_buf *b, const struct exs_ews_extprop *p,
                                const char *value)
{
  int r = 0;

  r |= exs_buf_adds(b, "<t:ExtendedProperty>");
  r |= exs_ews_write_extprop_uri(b, p);
  r |= exs_buf_adds(b, "<t:Value>");
  r |= exs_buf_add_xml(b, value ? value : "");
  r |= exs_buf_adds(b, "</t:Value></t:ExtendedProperty>");
  return r ? -1 : 0;
}

/* ---- GetFolder (with or without extended properties) ---- */

int exs_ews_build_get_folder_ext(struct exs_buf *b, const struct exs_ews_context *ctx,
                                 const struct exs_ews_folder_ref *refs, size_t n,
                                 const struct exs_ews_extprop *props, size_t n_props)
{
  size_t i;
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                       "<t:AdditionalProperties>"
                       "<t:FieldURI FieldURI=\"folder:DisplayName\"/>"
                       "<t:FieldURI FieldURI=\"folder:FolderClass\"/>"
                       "<t:FieldURI FieldURI=\"folder:TotalCount\"/>"
                       "<t:FieldURI FieldURI=\"folder:UnreadCount\"/>");
  for(i = 0; i < n_props; i++)
    r |= exs_ews_write_extprop_uri(b, &props[i]);
  r |= exs_buf_adds(b, "</t:AdditionalProperties></m:FolderShape><m:FolderIds>");
  for(i = 0; i < n; i++)
    r |= exs_ews_write_folder_ref(b, &refs[i]);
  r |= exs_buf_adds(b, "</m:FolderIds></m:GetFolder>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_build_get_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                             const struct exs_ews_folder_ref *refs, size_t n)
{
  return exs_ews_build_get_folder_ext(b, ctx, refs, n, NULL, 0);
}

/* ---- FindFolder ---- */

void exs_ews_folder_page_free(struct exs_ews_folder_page *p)
{
  if(!p)
    return;
  free(p->folders);
  memset(p, 0, sizeof(*p));
}

int exs_ews_build_find_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                              const struct exs_ews_find_folder_req *req)
{
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:FindFolder Traversal=\"Shallow\"><m:FolderShape>"
                       "<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
                       "<t:FieldURI FieldURI=\"folder:DisplayName\"/>"
                       "<t:FieldURI FieldURI=\"folder:FolderClass\"/>"
                       "<t:FieldURI FieldURI=\"folder:ChildFolderCount\"/>"
                       "<t:FieldURI FieldURI=\"folder:TotalCount\"/>"
                       "</t:AdditionalProperties></m:FolderShape>");
  r |= exs_buf_addf(b,
                    "<m:IndexedPageFolderView MaxEntriesReturned=\"%d\" Offset=\"%d\" "
                    "BasePoint=\"Beginning\"/>",
                    req->max_entries > 0 ? req->max_entries : 100,
                    req->offset > 0 ? req->offset : 0);
  if(req->display_name) {
    r |= exs_buf_adds(b, "<m:Restriction><t:IsEqualTo>"
                         "<t:FieldURI FieldURI=\"folder:DisplayName\"/>"
                         "<t:FieldURIOrConstant><t:Constant Value=\"");
    r |= exs_buf_add_xml(b, req->display_name);
    r |= exs_buf_adds(b, "\"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>");
  }
  r |= exs_buf_adds(b, "<m:ParentFolderIds>");
  r |= exs_ews_write_folder_ref(b, &req->parent);
  r |= exs_buf_adds(b, "</m:ParentFolderIds></m:FindFolder>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

/* One t:Folder of a FindFolder answer. */
static void find_folder_entry(xmlNodePtr node, void *entry)
{
  struct exs_ews_folder *f = entry;

  f->ok = true;
  snprintf(f->response_code, sizeof(f->response_code), "NoError");
  exs_ews__parse_folder_node(node, f);
}

int exs_ews_parse_find_folder(const char *body, size_t len, long http_status,
                              struct exs_ews_folder_page *out, struct exs_error *err)
{
  struct exs_ews__page page;
  void *folders;

  int rc;

  memset(out, 0, sizeof(*out));
  rc = exs_ews__parse_page(body, len, http_status, "FindFolder", "Folders", sizeof(*out->folders),
                           find_folder_entry, &page, &folders, &out->n, err);
  out->folders = folders; /* NULL after a failure; the page's numbers then -1 */
  out->next_offset = page.next_offset;
  out->total = page.total;
  out->includes_last = page.includes_last;
  return rc;
}

/* ---- CreateFolder ---- */

int exs_ews_build_create_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                                const struct exs_ews_folder_ref *parent, const char *display_name,
                                const char *folder_class)
{
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:CreateFolder><m:ParentFolderId>");
  r |= exs_ews_write_folder_ref(b, parent);
  r |= exs_buf_adds(b, "</m:ParentFolderId><m:Folders><t:Folder><t:FolderClass>");
  r |= exs_buf_add_xml(b, folder_class ? folder_class : "IPF.Note");
  r |= exs_buf_adds(b, "</t:FolderClass><t:DisplayName>");
  r |= exs_buf_add_xml(b, display_name);
  r |= exs_buf_adds(b, "</t:DisplayName></t:Folder></m:Folders></m:CreateFolder>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

/* Parse a single-folder answer of op (CreateFolder, UpdateFolder). */
static int parse_one_folder(const char *op, const char *body, size_t len, long http_status,
                            struct exs_ews_folder *out, struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr msg;
  int result = -1;

  memset(out, 0, sizeof(*out));
  out->total_count = out->unread_count = out->child_folder_count = -1;
  if(exs_ews__first_message(body, len, http_status, op, false, &doc, &msg, err))
    goto out;
  exs_xml_text(exs_xml_child(msg, EXS_NS_MSG, "ResponseCode"), out->response_code,
               sizeof(out->response_code));
  if(exs_ews_message_status(msg, err)) {
    snprintf(out->message, sizeof(out->message), "%s", err->message);
    goto out;
  }
  out->ok = true;
  exs_ews__parse_folder_node(exs_xml_first_element(exs_xml_child(msg, EXS_NS_MSG, "Folders")), out);
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}

int exs_ews_parse_create_folder(const char *body, size_t len, long http_status,
                                struct exs_ews_folder *out, struct exs_error *err)
{
  return parse_one_folder("CreateFolder", body, len, http_status, out, err);
}

/* ---- UpdateFolder ---- */

int exs_ews_build_update_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                                const struct exs_ews_folder_ref *folder, const char *folder_kind,
                                const struct exs_ews_extprop_set *sets, size_t n)
{
  const char *kind = folder_kind ? folder_kind : "Folder";
  size_t i;
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:UpdateFolder><m:FolderChanges><t:FolderChange>");
  r |= exs_ews_write_folder_ref(b, folder);
  r |= exs_buf_adds(b, "<t:Updates>");
  for(i = 0; i < n; i++) {
    if(!sets[i].value) {
      r |= exs_buf_adds(b, "<t:DeleteFolderField>");
      r |= exs_ews_write_extprop_uri(b, &sets[i].prop);
      r |= exs_buf_adds(b, "</t:DeleteFolderField>");
      continue;
    }
    r |= exs_buf_adds(b, "<t:SetFolderField>");
    r |= exs_ews_write_extprop_uri(b, &sets[i].prop);
    r |= exs_buf_addf(b, "<t:%s>", kind);
    r |= exs_ews_write_extprop_value(b, &sets[i].prop, sets[i].value);
    r |= exs_buf_addf(b, "</t:%s></t:SetFolderField>", kind);
  }
  r |= exs_buf_adds(b, "</t:Updates></t:FolderChange></m:FolderChanges></m:UpdateFolder>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

int exs_ews_parse_update_folder(const char *body, size_t len, long http_status,
                                struct exs_ews_folder *out, struct exs_error *err)
{
  return parse_one_folder("UpdateFolder", body, len, http_status, out, err);
}

/* ---- SyncFolderHierarchy ---- */

void exs_ews_folder_sync_free(struct exs_ews_folder_sync *s)
{
  if(!s)
    return;
  free(s->sync_state);
  free(s->changes);
  memset(s, 0, sizeof(*s));
}

int exs_ews_build_sync_folder_hierarchy(struct exs_buf *b, const struct exs_ews_context *ctx,
                                        const struct exs_ews_folder_ref *sync_folder,
                                        const char *sync_state)
{
  int r = 0;

  r |= exs_ews_envelope_begin(b, ctx);
  r |= exs_buf_adds(b, "<m:SyncFolderHierarchy><m:FolderShape>"
                       "<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
                       "<t:FieldURI FieldURI=\"folder:DisplayName\"/>"
                       "<t:FieldURI FieldURI=\"folder:ParentFolderId\"/>"
                       "<t:FieldURI FieldURI=\"folder:FolderClass\"/>"
                       "</t:AdditionalProperties></m:FolderShape>");
  if(sync_folder) {
    r |= exs_buf_adds(b, "<m:SyncFolderId>");
    r |= exs_ews_write_folder_ref(b, sync_folder);
    r |= exs_buf_adds(b, "</m:SyncFolderId>");
  }
  if(sync_state && *sync_state) {
    r |= exs_buf_adds(b, "<m:SyncState>");
    r |= exs_buf_add_xml(b, sync_state);
    r |= exs_buf_adds(b, "</m:SyncState>");
  }
  r |= exs_buf_adds(b, "</m:SyncFolderHierarchy>");
  r |= exs_ews_envelope_end(b);
  return r ? -1 : 0;
}

/* Copy the text of node into a new string (caller frees); "" when NULL. */
static char *dup_text(xmlNodePtr node)
{
  xmlChar *s = node ? xmlNodeGetContent(node) : NULL;
  char *r = strdup(s ? (const char *)s : "");

  xmlFree(s);
  return r;
}

static int change_kind(xmlNodePtr c, enum exs_ews_change_kind *k)
{
  if(exs_xml_is(c, EXS_NS_TYPES, "Create"))
    *k = EXS_EWS_CHANGE_CREATE;
  else if(exs_xml_is(c, EXS_NS_TYPES, "Update"))
    *k = EXS_EWS_CHANGE_UPDATE;
  else if(exs_xml_is(c, EXS_NS_TYPES, "Delete"))
    *k = EXS_EWS_CHANGE_DELETE;
  else if(exs_xml_is(c, EXS_NS_TYPES, "ReadFlagChange"))
    *k = EXS_EWS_CHANGE_READ_FLAG;
  else
    return -1;
  return 0;
}

int exs_ews_parse_sync_folder_hierarchy(const char *body, size_t len, long http_status,
                                        struct exs_ews_folder_sync *out, struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr msg, changes, c;
  size_t n;
  int result = -1;

  memset(out, 0, sizeof(*out));
  if(exs_ews__first_message(body, len, http_status, "SyncFolderHierarchy", true, &doc, &msg, err))
    goto out;
  out->sync_state = dup_text(exs_xml_child(msg, EXS_NS_MSG, "SyncState"));
  out->includes_last =
      exs_ews__bool_text(exs_xml_child(msg, EXS_NS_MSG, "IncludesLastFolderInRange"));
  changes = exs_xml_child(msg, EXS_NS_MSG, "Changes");
  n = exs_ews__count_elements(changes);
  if(!out->sync_state || (n && !(out->changes = calloc(n, sizeof(*out->changes))))) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    goto out;
  }
  for(c = changes ? changes->children : NULL; c; c = c->next) {
    struct exs_ews_folder_change *ch;
    if(c->type != XML_ELEMENT_NODE)
      continue;
    ch = &out->changes[out->n];
    if(change_kind(c, &ch->kind))
      continue;
    ch->folder.ok = true;
    if(ch->kind == EXS_EWS_CHANGE_DELETE) {
      xmlNodePtr id = exs_xml_child(c, EXS_NS_TYPES, "FolderId");
      ch->folder.total_count = ch->folder.unread_count = ch->folder.child_folder_count = -1;
      exs_xml_attr(id, "Id", ch->folder.id, sizeof(ch->folder.id));
      exs_xml_attr(id, "ChangeKey", ch->folder.change_key, sizeof(ch->folder.change_key));
    }
    else {
      exs_ews__parse_folder_node(exs_xml_first_element(c), &ch->folder);
    }
    out->n++;
  }
  result = 0;
out:
  if(result)
    exs_ews_folder_sync_free(out);
  xmlFreeDoc(doc);
  return result;
}

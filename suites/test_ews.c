/* test_ews.c - EWS builders (validated against the official schema) and
 * parsers (the documented samples, faults, per-item errors, hostile
 * input). No sockets. */
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "exsync/ews.h"
#include "exsync/xml.h"
#include "testutil.h"

static struct exs_schema *schema;

static void schema_setup(void)
{
  char err[512];

  schema = exs_schema_load(tu_path("fixtures/schema/ews/ews-validate.xsd"), err, sizeof(err));
  ck_assert_msg(schema != NULL, "schema: %s", err);
}

static void schema_teardown(void)
{
  exs_schema_free(schema);
  schema = NULL;
}

/* ---- builders ---- */

static const struct exs_ews_context ctx_plain = {NULL, NULL};
static const struct exs_ews_context ctx_imp = {"Exchange2016", "queue@contoso.com"};
static const struct exs_ews_folder_ref inbox = {"inbox", NULL, NULL};
static const struct exs_ews_folder_ref root = {"msgfolderroot", NULL, NULL};
static const struct exs_ews_folder_ref delegate_inbox = {"inbox", NULL, "queue@contoso.com"};
static const struct exs_ews_folder_ref by_id = {NULL, "AAMkAGRmUndeliv==", NULL};
static const struct exs_ews_extprop marker = {"PublicStrings", "exsync.TestMarker", NULL, "String"};
static const struct exs_ews_extprop tagged = {NULL, NULL, "0x1042", "String"};

static int b_get_folder(struct exs_buf *b)
{
  struct exs_ews_folder_ref refs[] = {root, inbox, delegate_inbox};
  return exs_ews_build_get_folder(b, &ctx_imp, refs, 3);
}

static int b_get_folder_ext(struct exs_buf *b)
{
  struct exs_ews_extprop props[] = {exs_ews_prop_org_id, exs_ews_prop_last_sync};
  return exs_ews_build_get_folder_ext(b, &ctx_imp, &root, 1, props, 2);
}

static int b_find_folder(struct exs_buf *b)
{
  struct exs_ews_find_folder_req req = {inbox, "Undeliverable \"<&>\"", 10, 0};
  return exs_ews_build_find_folder(b, &ctx_plain, &req);
}

static int b_find_folder_all(struct exs_buf *b)
{
  struct exs_ews_find_folder_req req = {delegate_inbox, NULL, 0, 5};
  return exs_ews_build_find_folder(b, &ctx_plain, &req);
}

static int b_create_folder(struct exs_buf *b)
{
  return exs_ews_build_create_folder(b, &ctx_imp, &inbox, "Undeliverable", NULL);
}

static int b_update_folder(struct exs_buf *b)
{
  struct exs_ews_extprop_set sets[] = {
      {exs_ews_prop_org_id, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"},
      {exs_ews_prop_last_sync, "2026-01-01T00:00:00Z"},
  };
  return exs_ews_build_update_folder(b, &ctx_imp, &root, NULL, sets, 2);
}

static int b_update_folder_delete(struct exs_buf *b)
{
  struct exs_ews_extprop_set sets[] = {{exs_ews_prop_org_id, NULL}};
  return exs_ews_build_update_folder(b, &ctx_imp, &by_id, "CalendarFolder", sets, 1);
}

static int b_sync_hierarchy_first(struct exs_buf *b)
{
  return exs_ews_build_sync_folder_hierarchy(b, &ctx_imp, NULL, NULL);
}

static int b_sync_hierarchy_next(struct exs_buf *b)
{
  return exs_ews_build_sync_folder_hierarchy(b, &ctx_imp, &root, "H4sIAAAAAAAEAO29B2AcSZY=");
}

static int b_find_item(struct exs_buf *b)
{
  static const char *const fields[] = {"item:DateTimeReceived", "item:ItemClass", "item:Subject",
                                       "item:Categories"};
  struct exs_ews_restriction rs[] = {
      {EXS_EWS_IS_GREATER_THAN, "item:DateTimeReceived", NULL, "2024-05-01T08:00:00Z"}};
  struct exs_ews_find_item_req req = {
      inbox, fields, 4, &marker, 1, 50, 0, rs, 1, "item:DateTimeReceived", false};
  return exs_ews_build_find_item(b, &ctx_imp, &req);
}

static int b_find_item_and(struct exs_buf *b)
{
  struct exs_ews_restriction rs[] = {
      {EXS_EWS_IS_EQUAL_TO, NULL, &marker, "marker-123"},
      {EXS_EWS_CONTAINS, "item:Subject", NULL, "exsync test"},
      {EXS_EWS_IS_GREATER_THAN_OR_EQUAL_TO, "item:DateTimeReceived", NULL, "2024-05-01T08:00:00Z"},
  };
  struct exs_ews_find_item_req req = {delegate_inbox,          NULL, 0, NULL, 0, 0, 100, rs, 3,
                                      "item:DateTimeReceived", true};
  return exs_ews_build_find_item(b, &ctx_plain, &req);
}

static int b_find_item_contains_ext(struct exs_buf *b)
{
  struct exs_ews_restriction rs[] = {{EXS_EWS_CONTAINS, NULL, &marker, "abc"}};
  struct exs_ews_find_item_req req = {inbox, NULL, 0, NULL, 0, 0, 0, rs, 1, NULL, false};
  return exs_ews_build_find_item(b, &ctx_plain, &req);
}

static int b_get_item(struct exs_buf *b)
{
  static const char *const ids[] = {"AAMkAGRmMsg1==", "AAMkAGRmMsg2=="};
  static const char *const fields[] = {
      "item:Subject",         "item:DateTimeReceived",     "item:Body",     "message:From",
      "message:ToRecipients", "message:InternetMessageId", "message:IsRead"};
  struct exs_ews_extprop ext[] = {marker, tagged};
  struct exs_ews_get_item_req req = {ids, 2, true, "Text", fields, 7, ext, 2};
  return exs_ews_build_get_item(b, &ctx_imp, &req);
}

static int b_get_item_bare(struct exs_buf *b)
{
  static const char *const ids[] = {"AAMkAGRmMsg1=="};
  struct exs_ews_get_item_req req = {ids, 1, false, NULL, NULL, 0, NULL, 0};
  return exs_ews_build_get_item(b, &ctx_plain, &req);
}

static const char *const to_self[] = {"alice@contoso.com"};

static int b_create_message(const char *disposition, struct exs_buf *b)
{
  static const char *const cats[] = {"Tracked to Dynamics 365"};
  struct exs_ews_extprop_set ext[] = {{marker, "marker-123"}};
  struct exs_ews_new_item it = {0};
  struct exs_ews_folder_ref sent = {"sentitems", NULL, NULL};
  struct exs_ews_create_item_req req = {disposition, NULL, &it, 1};

  it.kind = EXS_EWS_ITEM_MESSAGE;
  it.subject = "exsync test <1>";
  it.body = "Hello & goodbye";
  it.categories = cats;
  it.n_categories = 1;
  it.ext = ext;
  it.n_ext = 1;
  it.to = to_self;
  it.n_to = 1;
  it.from = "alice@contoso.com";
  if(strcmp(disposition, "SendOnly"))
    req.saved_folder = &sent;
  return exs_ews_build_create_item(b, &ctx_imp, &req);
}

static int b_create_send_only(struct exs_buf *b)
{
  return b_create_message("SendOnly", b);
}
static int b_create_save_only(struct exs_buf *b)
{
  return b_create_message("SaveOnly", b);
}
static int b_create_send_save(struct exs_buf *b)
{
  return b_create_message("SendAndSaveCopy", b);
}

static int b_create_mime(struct exs_buf *b)
{
  static const char mime[] = "From: a@b\r\nTo: c@d\r\nSubject: Hi\r\n\r\nBody\r\n";
  struct exs_ews_new_item it = {0};
  struct exs_ews_create_item_req req = {"SendOnly", NULL, &it, 1};

  it.kind = EXS_EWS_ITEM_MESSAGE;
  it.mime = mime;
  it.mime_len = sizeof(mime) - 1;
  return exs_ews_build_create_item(b, &ctx_plain, &req);
}

static int b_create_calendar(struct exs_buf *b)
{
  struct exs_ews_new_item it = {0};
  struct exs_ews_folder_ref cal = {"calendar", NULL, NULL};
  struct exs_ews_create_item_req req = {NULL, &cal, &it, 1};

  it.kind = EXS_EWS_ITEM_CALENDAR;
  it.subject = "Product demo";
  it.body = "Agenda";
  it.start = "2024-05-02T14:00:00Z";
  it.end = "2024-05-02T15:00:00Z";
  it.location = "Room 1";
  it.to = to_self;
  it.n_to = 1;
  return exs_ews_build_create_item(b, &ctx_imp, &req);
}

static int b_create_contact(struct exs_buf *b)
{
  struct exs_ews_new_item it = {0};
  struct exs_ews_folder_ref f = {"contacts", NULL, NULL};
  struct exs_ews_extprop_set ext[] = {{marker, "crm-1"}};
  struct exs_ews_create_item_req req = {NULL, &f, &it, 1};

  it.kind = EXS_EWS_ITEM_CONTACT;
  it.given_name = "Alice";
  it.surname = "Smith";
  it.company = "Fabrikam";
  it.email = "alice@fabrikam.com";
  it.ext = ext;
  it.n_ext = 1;
  return exs_ews_build_create_item(b, &ctx_imp, &req);
}

static int b_create_task(struct exs_buf *b)
{
  struct exs_ews_new_item it = {0};
  struct exs_ews_folder_ref f = {"tasks", NULL, NULL};
  struct exs_ews_create_item_req req = {NULL, &f, &it, 1};

  it.kind = EXS_EWS_ITEM_TASK;
  it.subject = "Call back Alice";
  it.body = "About order 1001";
  it.start = "2024-05-02T09:00:00Z";
  it.end = "2024-05-03T17:00:00Z";
  it.status = "NotStarted";
  return exs_ews_build_create_item(b, &ctx_imp, &req);
}

static int b_update_message(struct exs_buf *b)
{
  struct exs_ews_field_set sets[] = {
      {"item:Categories", NULL, "Tracked to Dynamics 365\nOther"},
      {NULL, &marker, "{8D2A3C0E-0000-0000-0000-000000000001}"},
      {"message:IsRead", NULL, "true"},
      {"item:Subject", NULL, "new subject"},
  };
  struct exs_ews_item_change ch = {"AAMkAGRmMsg2==", "CQAAABYAAAB2", EXS_EWS_ITEM_MESSAGE, sets, 4};
  return exs_ews_build_update_item(b, &ctx_imp, NULL, &ch, 1);
}

static int b_update_calendar(struct exs_buf *b)
{
  struct exs_ews_field_set sets[] = {
      {"calendar:Location", NULL, "Room 2"},
      {"calendar:Start", NULL, "2024-05-02T15:00:00Z"},
      {"item:Categories", NULL, NULL},
      {"item:Body", NULL, "moved"},
  };
  struct exs_ews_item_change ch = {"AAMkAGRmAppt1==", NULL, EXS_EWS_ITEM_CALENDAR, sets, 4};
  return exs_ews_build_update_item(b, &ctx_imp, "AlwaysOverwrite", &ch, 1);
}

static int b_update_task_contact(struct exs_buf *b)
{
  struct exs_ews_field_set t[] = {{"task:Status", NULL, "Completed"}};
  struct exs_ews_field_set c[] = {{"contacts:CompanyName", NULL, "Contoso"}};
  struct exs_ews_item_change ch[] = {{"AAMkTask==", "CK1", EXS_EWS_ITEM_TASK, t, 1},
                                     {"AAMkContact==", "CK2", EXS_EWS_ITEM_CONTACT, c, 1}};
  return exs_ews_build_update_item(b, &ctx_plain, "NeverOverwrite", ch, 2);
}

static int b_move_item(struct exs_buf *b)
{
  static const char *const ids[] = {"AAMkAGRmMsg1=="};
  return exs_ews_build_move_item(b, &ctx_imp, &by_id, ids, 1);
}

static int b_delete(const char *type, struct exs_buf *b)
{
  static const char *const ids[] = {"AAMkAGRmMsg1==", "AAMkAGRmAppt1=="};
  return exs_ews_build_delete_item(b, &ctx_imp, type, ids, 2);
}
static int b_delete_hard(struct exs_buf *b)
{
  return b_delete("HardDelete", b);
}
static int b_delete_soft(struct exs_buf *b)
{
  return b_delete("SoftDelete", b);
}
static int b_delete_move(struct exs_buf *b)
{
  return b_delete("MoveToDeletedItems", b);
}

static int b_sync_items_first(struct exs_buf *b)
{
  struct exs_ews_sync_items_req req = {{"calendar", NULL, NULL}, NULL, 0, NULL, 0, NULL, 0};
  return exs_ews_build_sync_folder_items(b, &ctx_imp, &req);
}

static int b_sync_items_next(struct exs_buf *b)
{
  static const char *const fields[] = {"item:Subject", "item:LastModifiedTime"};
  struct exs_ews_sync_items_req req = {by_id, "H4sIAAAAAAAEAO29B2AcSZY=", 1000, fields, 2, &marker,
                                       1};
  return exs_ews_build_sync_folder_items(b, &ctx_imp, &req);
}

static int b_resolve_names(struct exs_buf *b)
{
  return exs_ews_build_resolve_names(b, &ctx_imp, "queue@contoso.com");
}

static int b_convert_id(struct exs_buf *b)
{
  struct exs_ews_alternate_id ids[] = {{"EwsLegacyId", "AAAlAFVz", "queue@contoso.com"},
                                       {"HexEntryId", "00000000ABCDEF", "queue@contoso.com"}};
  return exs_ews_build_convert_id(b, &ctx_plain, "EwsId", ids, 2);
}

static const struct {
  const char *op;
  int (*build)(struct exs_buf *b);
  bool impersonated;
} builders[] = {
    {"GetFolder", b_get_folder, true},
    {"GetFolder", b_get_folder_ext, true},
    {"FindFolder", b_find_folder, false},
    {"FindFolder", b_find_folder_all, false},
    {"CreateFolder", b_create_folder, true},
    {"UpdateFolder", b_update_folder, true},
    {"UpdateFolder", b_update_folder_delete, true},
    {"SyncFolderHierarchy", b_sync_hierarchy_first, true},
    {"SyncFolderHierarchy", b_sync_hierarchy_next, true},
    {"FindItem", b_find_item, true},
    {"FindItem", b_find_item_and, false},
    {"FindItem", b_find_item_contains_ext, false},
    {"GetItem", b_get_item, true},
    {"GetItem", b_get_item_bare, false},
    {"CreateItem", b_create_send_only, true},
    {"CreateItem", b_create_save_only, true},
    {"CreateItem", b_create_send_save, true},
    {"CreateItem", b_create_mime, false},
    {"CreateItem", b_create_calendar, true},
    {"CreateItem", b_create_contact, true},
    {"CreateItem", b_create_task, true},
    {"UpdateItem", b_update_message, true},
    {"UpdateItem", b_update_calendar, true},
    {"UpdateItem", b_update_task_contact, false},
    {"MoveItem", b_move_item, true},
    {"DeleteItem", b_delete_hard, true},
    {"DeleteItem", b_delete_soft, true},
    {"DeleteItem", b_delete_move, true},
    {"SyncFolderItems", b_sync_items_first, true},
    {"SyncFolderItems", b_sync_items_next, true},
    {"ResolveNames", b_resolve_names, true},
    {"ConvertId", b_convert_id, false},
};

START_TEST(builder_is_schema_valid)
{
  struct exs_buf b;
  char err[512];
  xmlDocPtr doc;
  xmlNodePtr env, header, body, op, h;
  int n_headers = 0;

  exs_buf_init(&b, 1 << 20);
  ck_assert_int_eq(builders[_i].build(&b), 0);
  doc = exs_xml_parse(b.data, b.len, builders[_i].op, err, sizeof(err));
  ck_assert_msg(doc != NULL, "%s: %s", builders[_i].op, err);
  env = xmlDocGetRootElement(doc);
  ck_assert(exs_xml_is(env, EXS_NS_SOAP, "Envelope"));
  header = exs_xml_child(env, EXS_NS_SOAP, "Header");
  body = exs_xml_child(env, EXS_NS_SOAP, "Body");
  op = exs_xml_first_element(body);
  ck_assert_msg(exs_xml_is(op, EXS_NS_MSG, builders[_i].op), "case %d: wrong operation", _i);
  ck_assert_msg(exs_schema_validate(schema, doc, op, builders[_i].op, err, sizeof(err)) == 0,
                "case %d (%s): %s\n%s", _i, builders[_i].op, err, b.data);
  for(h = exs_xml_first_element(header); h; h = h->next) {
    if(h->type != XML_ELEMENT_NODE)
      continue;
    n_headers++;
    ck_assert_msg(exs_schema_validate(schema, doc, h, "header", err, sizeof(err)) == 0,
                  "case %d header %s: %s", _i, (const char *)h->name, err);
  }
  ck_assert_int_eq(n_headers, builders[_i].impersonated ? 2 : 1);
  ck_assert_int_eq(exs_xml_child(header, EXS_NS_TYPES, "ExchangeImpersonation") != NULL,
                   builders[_i].impersonated);
  xmlFreeDoc(doc);
  exs_buf_free(&b);
}
END_TEST

/* The schema test is only meaningful if the schema refuses bad requests. */
START_TEST(schema_rejects_wrong_order)
{
  static const char bad[] =
      "<m:FindItem xmlns:m='" EXS_NS_MSG "' xmlns:t='" EXS_NS_TYPES "' Traversal='Shallow'>"
      "<m:ParentFolderIds><t:DistinguishedFolderId Id='inbox'/></m:ParentFolderIds>"
      "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape></m:FindItem>";
  char err[512];
  xmlDocPtr doc = exs_xml_parse(bad, sizeof(bad) - 1, "bad", err, sizeof(err));

  ck_assert_ptr_nonnull(doc);
  ck_assert_int_eq(exs_schema_validate(schema, doc, NULL, "bad", err, sizeof(err)), -1);
  xmlFreeDoc(doc);
}
END_TEST

START_TEST(builder_escapes_and_encodes)
{
  struct exs_buf b;

  exs_buf_init(&b, 1 << 20);
  ck_assert_int_eq(b_find_folder(&b), 0);
  ck_assert_ptr_nonnull(strstr(b.data, "Undeliverable &quot;&lt;&amp;&gt;&quot;"));
  exs_buf_reset(&b);
  ck_assert_int_eq(b_create_mime(&b), 0);
  /* "From: a@b\r\n..." base64 */
  ck_assert_ptr_nonnull(strstr(b.data, "<t:MimeContent CharacterSet=\"UTF-8\">RnJvbTogYUBi"));
  exs_buf_reset(&b);
  ck_assert_int_eq(b_sync_items_next(&b), 0);
  ck_assert_ptr_nonnull(strstr(b.data, "<m:MaxChangesReturned>512<")); /* clamped */
  exs_buf_free(&b);
}
END_TEST

START_TEST(builder_respects_buffer_cap)
{
  struct exs_buf b;

  exs_buf_init(&b, 200);
  ck_assert_int_eq(b_get_item(&b), -1);
  exs_buf_free(&b);
}
END_TEST

/* ---- parsers ---- */

static char *fixture(const char *name, size_t *len)
{
  char rel[256];

  snprintf(rel, sizeof(rel), "fixtures/ews/%s", name);
  return tu_read_file(tu_path(rel), len);
}

START_TEST(parse_get_folder_sample)
{
  size_t len;
  char *body = fixture("get_folder.xml", &len);
  struct exs_ews_folder f[3];
  struct exs_error err;

  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_parse_get_folder(body, len, 200, f, 3, &err), 0);
  ck_assert(f[0].ok && f[1].ok && f[2].ok);
  ck_assert_str_eq(f[1].id, "AAMkAGRmInbox==");
  ck_assert_int_eq(f[1].unread_count, 3);
  ck_assert_str_eq(f[2].kind, "CalendarFolder");
  ck_assert_int_eq(f[2].unread_count, -1);
  /* more folders asked than answered: a protocol error */
  {
    struct exs_ews_folder f4[4];
    ck_assert_int_eq(exs_ews_parse_get_folder(body, len, 200, f4, 4, &err), -1);
    ck_assert_int_eq(err.category, EXS_CAT_PROTOCOL);
  }
  free(body);
}
END_TEST

START_TEST(parse_get_folder_ext_identity)
{
  size_t len;
  char *body = fixture("get_folder_ext.xml", &len);
  struct exs_ews_folder f;
  struct exs_error err;
  const struct exs_ews_extvalue *v;

  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_parse_get_folder(body, len, 200, &f, 1, &err), 0);
  ck_assert_uint_eq(f.n_ext, 2);
  v = exs_ews_extvalue_find(f.ext, f.n_ext, &exs_ews_prop_org_id);
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->value, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  v = exs_ews_extvalue_find(f.ext, f.n_ext, &exs_ews_prop_last_sync);
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->type, "SystemTime");
  ck_assert_str_eq(v->value, "2026-01-01T00:00:00Z");
  ck_assert_ptr_null(exs_ews_extvalue_find(f.ext, f.n_ext, &marker));
  free(body);
}
END_TEST

START_TEST(parse_folder_ops)
{
  size_t len;
  char *body;
  struct exs_ews_folder f;
  struct exs_ews_folder_page page;
  struct exs_ews_folder_sync sync;
  struct exs_error err;

  exs_error_clear(&err);
  body = fixture("find_folder.xml", &len);
  ck_assert_int_eq(exs_ews_parse_find_folder(body, len, 200, &page, &err), 0);
  ck_assert_uint_eq(page.n, 1);
  ck_assert(page.includes_last);
  ck_assert_int_eq(page.next_offset, 1);
  ck_assert_str_eq(page.folders[0].display_name, "Undeliverable");
  ck_assert_int_eq(page.folders[0].child_folder_count, 0);
  exs_ews_folder_page_free(&page);
  free(body);

  body = fixture("create_folder.xml", &len);
  ck_assert_int_eq(exs_ews_parse_create_folder(body, len, 200, &f, &err), 0);
  ck_assert_str_eq(f.id, "AAMkAGRmUndeliv==");
  free(body);

  body = fixture("create_folder_exists.xml", &len);
  ck_assert_int_eq(exs_ews_parse_create_folder(body, len, 200, &f, &err), -1);
  ck_assert_str_eq(err.ews_code, "ErrorFolderExists");
  ck_assert_str_eq(f.response_code, "ErrorFolderExists");
  ck_assert(!f.ok);
  free(body);

  exs_error_clear(&err);
  body = fixture("update_folder.xml", &len);
  ck_assert_int_eq(exs_ews_parse_update_folder(body, len, 200, &f, &err), 0);
  ck_assert_str_eq(f.change_key, "AQAAABYAAAA2");
  free(body);

  body = fixture("sync_folder_hierarchy.xml", &len);
  ck_assert_int_eq(exs_ews_parse_sync_folder_hierarchy(body, len, 200, &sync, &err), 0);
  ck_assert_str_eq(sync.sync_state, "H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+B0oQiA");
  ck_assert(sync.includes_last);
  ck_assert_uint_eq(sync.n, 1);
  ck_assert_int_eq(sync.changes[0].kind, EXS_EWS_CHANGE_CREATE);
  ck_assert_str_eq(sync.changes[0].folder.parent_id, "AAMkAGRmInbox==");
  ck_assert_str_eq(sync.changes[0].folder.display_name, "Undeliverable");
  exs_ews_folder_sync_free(&sync);
  exs_ews_folder_sync_free(&sync); /* idempotent */
  free(body);
}
END_TEST

START_TEST(parse_find_item_page)
{
  size_t len;
  char *body = fixture("find_item.xml", &len);
  struct exs_ews_item_page page;
  struct exs_error err;

  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_parse_find_item(body, len, 200, &page, &err), 0);
  ck_assert_uint_eq(page.n, 2);
  ck_assert(!page.includes_last);
  ck_assert_int_eq(page.next_offset, 2);
  ck_assert_int_eq(page.total, 117);
  ck_assert_str_eq(page.items[0].id, "AAMkAGRmMsg1==");
  ck_assert_str_eq(page.items[0].subject, "Order 1001");
  ck_assert_int_eq((long long)page.items[0].received, 1714550472LL);
  ck_assert_uint_eq(page.items[1].n_categories, 1);
  ck_assert_str_eq(page.items[1].categories[0], "Tracked to Dynamics 365");
  exs_ews_item_page_free(&page);
  free(body);
}
END_TEST

START_TEST(parse_get_item_full)
{
  size_t len;
  char *body = fixture("get_item.xml", &len);
  struct exs_ews_item it;
  struct exs_error err;
  const struct exs_ews_extvalue *v;

  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_parse_get_item(body, len, 200, &it, 1, &err), 0);
  ck_assert(it.ok);
  ck_assert_str_eq(it.kind, "Message");
  ck_assert_ptr_nonnull(it.mime);
  ck_assert_str_eq((const char *)it.mime,
                   "From: alice@fabrikam.com\r\nSubject: Order 1001\r\n\r\nHi\r\n");
  ck_assert_str_eq(it.body, "<html><body>Hi</body></html>");
  ck_assert_str_eq(it.body_type, "HTML");
  ck_assert_str_eq(it.from.email, "alice@fabrikam.com");
  ck_assert_str_eq(it.from.name, "Alice");
  ck_assert_uint_eq(it.n_to, 1);
  ck_assert_str_eq(it.to[0].email, "queue@contoso.com");
  ck_assert_str_eq(it.internet_message_id, "<1001@fabrikam.com>");
  ck_assert_int_eq(it.is_read, 0);
  ck_assert_int_eq(it.has_attachments, 0);
  v = exs_ews_extvalue_find(it.ext, it.n_ext, &tagged);
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->value, "<prev@fabrikam.com>");
  exs_ews_item_clear(&it);
  exs_ews_item_clear(&it);
  free(body);
}
END_TEST

START_TEST(parse_get_item_per_item_errors)
{
  size_t len;
  char *body = fixture("get_item_batch_mixed.xml", &len);
  struct exs_ews_item it[3];
  struct exs_error err;
  int i;

  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_parse_get_item(body, len, 200, it, 3, &err), 0);
  ck_assert(!it[0].ok);
  ck_assert_int_eq(it[0].err.category, EXS_CAT_THROTTLED);
  ck_assert(it[0].err.transient);
  ck_assert_int_eq(it[0].err.backoff_ms, 5000);
  ck_assert_str_eq(it[0].err.ews_code, "ErrorServerBusy");
  ck_assert(it[1].ok);
  ck_assert_str_eq(it[1].subject, "Second");
  ck_assert(!it[2].ok);
  ck_assert_int_eq(it[2].err.category, EXS_CAT_ACCESS_DENIED);
  ck_assert(!it[2].err.transient);
  for(i = 0; i < 3; i++)
    exs_ews_item_clear(&it[i]);
  free(body);

  body = fixture("get_item_not_found.xml", &len);
  ck_assert_int_eq(exs_ews_parse_get_item(body, len, 200, it, 1, &err), 0);
  ck_assert(!it[0].ok);
  ck_assert_str_eq(it[0].err.ews_code, "ErrorItemNotFound");
  exs_ews_item_clear(&it[0]);
  free(body);
}
END_TEST

START_TEST(parse_write_results)
{
  size_t len;
  char *body;
  struct exs_ews_item_result r;
  struct exs_error err;

  exs_error_clear(&err);
  body = fixture("create_item_send.xml", &len);
  ck_assert_int_eq(exs_ews_parse_create_item(body, len, 200, &r, 1, &err), 0);
  ck_assert(r.ok);
  ck_assert_str_eq(r.id, ""); /* SendOnly: no id */
  free(body);
  body = fixture("create_item_save.xml", &len);
  ck_assert_int_eq(exs_ews_parse_create_item(body, len, 200, &r, 1, &err), 0);
  ck_assert_str_eq(r.id, "AAMkAGRmDraft==");
  ck_assert_str_eq(r.kind, "Message");
  free(body);
  body = fixture("create_item_calendar.xml", &len);
  ck_assert_int_eq(exs_ews_parse_create_item(body, len, 200, &r, 1, &err), 0);
  ck_assert_str_eq(r.kind, "CalendarItem");
  free(body);
  body = fixture("update_item.xml", &len);
  ck_assert_int_eq(exs_ews_parse_update_item(body, len, 200, &r, 1, &err), 0);
  ck_assert_str_eq(r.change_key, "CQAAABYAAAB3");
  ck_assert_int_eq(r.conflicts, 0);
  free(body);
  body = fixture("move_item.xml", &len);
  ck_assert_int_eq(exs_ews_parse_move_item(body, len, 200, &r, 1, &err), 0);
  ck_assert_str_eq(r.id, "AAMkAGRmMsg1moved==");
  free(body);
  body = fixture("delete_item.xml", &len);
  ck_assert_int_eq(exs_ews_parse_delete_item(body, len, 200, &r, 1, &err), 0);
  ck_assert(r.ok);
  free(body);
}
END_TEST

START_TEST(parse_sync_items)
{
  size_t len;
  char *body = fixture("sync_folder_items.xml", &len);
  struct exs_ews_item_sync s = {0};
  struct exs_error err;

  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_parse_sync_folder_items(body, len, 200, &s, &err), 0);
  ck_assert(!s.includes_last);
  ck_assert_uint_eq(s.n, 4);
  ck_assert_int_eq(s.changes[0].kind, EXS_EWS_CHANGE_CREATE);
  ck_assert_str_eq(s.changes[0].item.id, "AAMkAGRmAppt2==");
  ck_assert_str_eq(s.changes[0].item.kind, "CalendarItem");
  ck_assert_int_eq(s.changes[1].kind, EXS_EWS_CHANGE_UPDATE);
  ck_assert_str_eq(s.changes[1].item.change_key, "DwAAABYAAAD2");
  ck_assert_int_eq(s.changes[2].kind, EXS_EWS_CHANGE_DELETE);
  ck_assert_str_eq(s.changes[2].item.id, "AAMkAGRmAppt0==");
  ck_assert_int_eq(s.changes[3].kind, EXS_EWS_CHANGE_READ_FLAG);
  ck_assert_int_eq(s.changes[3].item.is_read, 1);
  ck_assert_ptr_nonnull(strstr(s.sync_state, "H4sIAAAAAAAEAO29B2AcSZYlJi9t"));
  exs_ews_item_sync_free(&s);
  free(body);

  body = fixture("sync_folder_items_invalid_state.xml", &len);
  ck_assert_int_eq(exs_ews_parse_sync_folder_items(body, len, 200, &s, &err), -1);
  ck_assert_str_eq(err.ews_code, "ErrorInvalidSyncStateData");
  ck_assert_ptr_null(s.changes);
  free(body);
}
END_TEST

START_TEST(parse_utility_ops)
{
  size_t len;
  char *body;
  struct exs_ews_resolve res;
  struct exs_ews_converted_id cid;
  struct exs_error err;

  exs_error_clear(&err);
  body = fixture("resolve_names.xml", &len);
  ck_assert_int_eq(exs_ews_parse_resolve_names(body, len, 200, &res, &err), 0);
  ck_assert_uint_eq(res.n, 1);
  ck_assert(!res.multiple);
  ck_assert_str_eq(res.r[0].mailbox.email, "queue@contoso.com");
  ck_assert_str_eq(res.r[0].mailbox.mailbox_type, "Mailbox");
  ck_assert_str_eq(res.r[0].display_name, "Sales queue");
  free(body);
  body = fixture("resolve_names_none.xml", &len);
  ck_assert_int_eq(exs_ews_parse_resolve_names(body, len, 200, &res, &err), -1);
  ck_assert_str_eq(err.ews_code, "ErrorNameResolutionNoResults");
  free(body);
  body = fixture("convert_id.xml", &len);
  ck_assert_int_eq(exs_ews_parse_convert_id(body, len, 200, &cid, 1, &err), 0);
  ck_assert(cid.ok);
  ck_assert_str_eq(cid.format, "EwsId");
  ck_assert_str_eq(cid.id, "AAMkAGRm");
  ck_assert_str_eq(cid.mailbox, "queue@contoso.com");
  free(body);
}
END_TEST

/* ---- request-level failures ---- */

static const struct {
  const char *file; /* fixture, or NULL for inline */
  const char *inline_body;
  long http_status;
  enum exs_category cat;
  bool transient;
  const char *ews_code;
  long backoff_ms;
} failures[] = {
    {"fault_server_busy.xml", NULL, 500, EXS_CAT_THROTTLED, true, "ErrorServerBusy", 297749},
    {"fault_impersonate_denied.xml", NULL, 500, EXS_CAT_IMPERSONATION, false,
     "ErrorImpersonateUserDenied", 0},
    {"fault_nonexistent_mailbox.xml", NULL, 500, EXS_CAT_MAILBOX_NOT_FOUND, false,
     "ErrorNonExistentMailbox", 0},
    {"fault_schema_validation.xml", NULL, 500, EXS_CAT_PROTOCOL, false, "ErrorSchemaValidation", 0},
    {"iis_500.html", NULL, 500, EXS_CAT_SERVER, true, "", 0},
    {"entity_bomb.xml", NULL, 200, EXS_CAT_PROTOCOL, false, "", 0},
    {NULL, "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body><m:GetFolderRe",
     200, EXS_CAT_PROTOCOL, false, "", 0},
    {NULL, "", 200, EXS_CAT_PROTOCOL, false, "", 0},
    {NULL, "<html><body>Sign in</body></html>", 200, EXS_CAT_PROTOCOL, false, "", 0},
    {NULL, "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body/></s:Envelope>",
     200, EXS_CAT_PROTOCOL, false, "", 0},
    {"get_folder.xml", NULL, 502, EXS_CAT_SERVER, true, "", 0},
    {NULL,
     "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body><s:Fault>"
     "<faultcode>s:Client</faultcode><faultstring>bad</faultstring></s:Fault></s:Body>"
     "</s:Envelope>",
     500, EXS_CAT_PROTOCOL, false, "Client", 0},
};

START_TEST(request_level_failures)
{
  size_t len;
  char *body =
      failures[_i].file ? fixture(failures[_i].file, &len) : strdup(failures[_i].inline_body);
  struct exs_ews_folder f;
  struct exs_ews_item_page page;
  struct exs_error err;

  if(!failures[_i].file)
    len = strlen(body);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_parse_get_folder(body, len, failures[_i].http_status, &f, 1, &err), -1);
  ck_assert_msg(err.category == failures[_i].cat, "case %d: %s (%s)", _i,
                exs_category_name(err.category), err.message);
  ck_assert_int_eq(err.transient, failures[_i].transient);
  ck_assert_str_eq(err.ews_code, failures[_i].ews_code);
  ck_assert_int_eq(err.backoff_ms, failures[_i].backoff_ms);
  ck_assert_int_eq(err.http_status, failures[_i].http_status);
  ck_assert_str_ne(err.hint, "");
  /* the same through another parser */
  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_parse_find_item(body, len, failures[_i].http_status, &page, &err), -1);
  ck_assert_int_eq(err.category, failures[_i].cat);
  ck_assert_ptr_null(page.items);
  free(body);
}
END_TEST

START_TEST(truncated_answers_never_crash)
{
  size_t len, cut;
  char *body = fixture("get_item.xml", &len);
  struct exs_ews_item it;
  struct exs_error err;

  for(cut = 0; cut < len; cut += 7) {
    exs_error_clear(&err);
    if(exs_ews_parse_get_item(body, cut, 200, &it, 1, &err) == 0)
      exs_ews_item_clear(&it);
    else
      ck_assert_int_ne(err.category, EXS_CAT_NONE);
  }
  free(body);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("ews");
  TCase *tb = tcase_create("builders");
  TCase *tp = tcase_create("parsers");

  tcase_add_unchecked_fixture(tb, schema_setup, schema_teardown);
  tcase_add_loop_test(tb, builder_is_schema_valid, 0, sizeof(builders) / sizeof(builders[0]));
  tcase_add_test(tb, schema_rejects_wrong_order);
  tcase_add_test(tb, builder_escapes_and_encodes);
  tcase_add_test(tb, builder_respects_buffer_cap);
  suite_add_tcase(s, tb);

  tcase_add_test(tp, parse_get_folder_sample);
  tcase_add_test(tp, parse_get_folder_ext_identity);
  tcase_add_test(tp, parse_folder_ops);
  tcase_add_test(tp, parse_find_item_page);
  tcase_add_test(tp, parse_get_item_full);
  tcase_add_test(tp, parse_get_item_per_item_errors);
  tcase_add_test(tp, parse_write_results);
  tcase_add_test(tp, parse_sync_items);
  tcase_add_test(tp, parse_utility_ops);
  tcase_add_loop_test(tp, request_level_failures, 0, sizeof(failures) / sizeof(failures[0]));
  tcase_add_test(tp, truncated_answers_never_crash);
  suite_add_tcase(s, tp);
  return tu_run(s);
}

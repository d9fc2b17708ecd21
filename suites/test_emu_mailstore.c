/* test_emu_mailstore.c - the emulator's mailbox operations as Test & Enable
 * uses them, on the contoso scenario: FindItem paging and restrictions,
 * GetItem with MIME and extended properties, CreateItem delivery, DeleteItem,
 * UpdateFolder / GetFolder of the organization identity, SyncFolderHierarchy,
 * impersonation rights, delegate access and per-folder ErrorAccessDenied.
 * Every answer is validated against the official EWS schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_client.h"

static struct emu *emu;
static char url[256];

#define SVC "CONTOSO\\svc-crm:svc-pw"

static void setup(void)
{
  char err[512], bound[64];
  int port;

  emu = emu_new();
  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(
      emu_load_scenario(emu, tu_path("fixtures/scenarios/contoso.xml"), err, sizeof(err)) == 0,
      "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ec_strict(emu);
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", bound);
}

static void teardown(void)
{
  emu_free(emu);
  emu = NULL;
}

/* Send op as svc-crm impersonating who (NULL: no impersonation); validate;
 * expect HTTP status. */
static void call(const char *who, const char *op, long status, struct ec_resp *r)
{
  ec_post(url, SVC, ec_soap("Exchange2013_SP1", who, op), r);
  ck_assert_msg(r->status == status, "HTTP %ld, wanted %ld: %.2000s", r->status, status,
                r->body.data);
  ec_validate(r);
}

static xmlNodePtr root_folder(xmlNodePtr msg)
{
  return exs_xml_child(msg, EC_NS_M, "RootFolder");
}

static long attr_long(xmlNodePtr n, const char *name)
{
  char b[32];

  ck_assert_ptr_nonnull(exs_xml_attr(n, name, b, sizeof(b)));
  return strtol(b, NULL, 10);
}

static size_t count_children(xmlNodePtr n)
{
  size_t c = 0;

  for(xmlNodePtr k = n ? n->children : NULL; k; k = k->next)
    if(k->type == XML_ELEMENT_NODE)
      c++;
  return c;
}

START_TEST(finditem_pages_until_the_last_item)
{
  char err[256], op[2048], b[16];
  struct {
    long offset, returned, next;
    const char *last;
  } pages[] = {{0, 10, 10, "false"}, {10, 10, 20, "false"}, {20, 5, 25, "true"}};

  for(int i = 0; i < 25; i++) {
    char subj[32];
    snprintf(subj, sizeof(subj), "bulk %02d", i);
    ck_assert_int_eq(
        emu_deliver_message(emu, "x@fabrikam.com", "bob@contoso.com", subj, "hi", err, sizeof(err)),
        0);
  }
  ck_assert_int_eq(emu_folder_count(emu, "bob@contoso.com", "inbox"), 25);
  for(size_t p = 0; p < 3; p++) {
    struct ec_resp r;
    xmlNodePtr msgs[2], rf;
    snprintf(op, sizeof(op),
             "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
             "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:Subject\"/>"
             "<t:FieldURI FieldURI=\"item:DateTimeReceived\"/></t:AdditionalProperties>"
             "</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned=\"10\" Offset=\"%ld\" "
             "BasePoint=\"Beginning\"/><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
             "</m:ParentFolderIds></m:FindItem>",
             pages[p].offset);
    call("bob@contoso.com", op, 200, &r);
    ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
    rf = root_folder(msgs[0]);
    ck_assert_ptr_nonnull(rf);
    ck_assert_int_eq(attr_long(rf, "TotalItemsInView"), 25);
    ck_assert_int_eq(attr_long(rf, "IndexedPagingOffset"), pages[p].next);
    ck_assert_str_eq(exs_xml_attr(rf, "IncludesLastItemInRange", b, sizeof(b)), pages[p].last);
    ck_assert_uint_eq(count_children(exs_xml_child(rf, EC_NS_T, "Items")),
                      (size_t)pages[p].returned);
    ec_free(&r);
  }
}
END_TEST

static const struct {
  const char *restriction;
  size_t hits;
} restrictions[] = {
    {"<t:IsEqualTo><t:FieldURI FieldURI=\"item:Subject\"/><t:FieldURIOrConstant>"
     "<t:Constant Value=\"Order 1001\"/></t:FieldURIOrConstant></t:IsEqualTo>",
     1},
    {"<t:Contains ContainmentMode=\"Substring\" ContainmentComparison=\"IgnoreCase\">"
     "<t:FieldURI FieldURI=\"item:Subject\"/><t:Constant Value=\"case cas-\"/></t:Contains>",
     1},
    {"<t:IsGreaterThan><t:FieldURI FieldURI=\"item:DateTimeReceived\"/><t:FieldURIOrConstant>"
     "<t:Constant Value=\"2026-01-06T00:00:00Z\"/></t:FieldURIOrConstant></t:IsGreaterThan>",
     1},
    {"<t:IsGreaterThan><t:FieldURI FieldURI=\"item:DateTimeReceived\"/><t:FieldURIOrConstant>"
     "<t:Constant Value=\"2026-01-01T00:00:00Z\"/></t:FieldURIOrConstant></t:IsGreaterThan>",
     2},
    {"<t:IsEqualTo><t:FieldURI FieldURI=\"message:IsRead\"/><t:FieldURIOrConstant>"
     "<t:Constant Value=\"false\"/></t:FieldURIOrConstant></t:IsEqualTo>",
     1},
    {"<t:And><t:Contains ContainmentMode=\"Substring\" ContainmentComparison=\"IgnoreCase\">"
     "<t:FieldURI FieldURI=\"item:Subject\"/><t:Constant Value=\"order\"/></t:Contains>"
     "<t:IsLessThan><t:FieldURI FieldURI=\"item:DateTimeReceived\"/><t:FieldURIOrConstant>"
     "<t:Constant Value=\"2026-01-06T00:00:00Z\"/></t:FieldURIOrConstant></t:IsLessThan></t:And>",
     1},
    {"<t:IsEqualTo><t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
     "PropertyName=\"crmtrackingid\" PropertyType=\"String\"/><t:FieldURIOrConstant>"
     "<t:Constant Value=\"0001234\"/></t:FieldURIOrConstant></t:IsEqualTo>",
     0},
};

START_TEST(finditem_restrictions)
{
  struct ec_resp r;
  xmlNodePtr msgs[2], rf;
  char op[4096];

  snprintf(op, sizeof(op),
           "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>Default</t:BaseShape>"
           "</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned=\"50\" Offset=\"0\" "
           "BasePoint=\"Beginning\"/><m:Restriction>%s</m:Restriction><m:SortOrder>"
           "<t:FieldOrder Order=\"Ascending\"><t:FieldURI FieldURI=\"item:DateTimeReceived\"/>"
           "</t:FieldOrder></m:SortOrder><m:ParentFolderIds>"
           "<t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>",
           restrictions[_i].restriction);
  call("alice@contoso.com", op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  rf = root_folder(msgs[0]);
  ck_assert_int_eq(attr_long(rf, "TotalItemsInView"), (long)restrictions[_i].hits);
  ck_assert_uint_eq(count_children(exs_xml_child(rf, EC_NS_T, "Items")), restrictions[_i].hits);
  ec_free(&r);
}
END_TEST

static const char *draft_with_prop =
    "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:SavedItemFolderId>"
    "<t:DistinguishedFolderId Id=\"drafts\"/></m:SavedItemFolderId><m:Items><t:Message>"
    "<t:Subject>Draft &amp; more</t:Subject><t:Body BodyType=\"Text\">Body text</t:Body>"
    "<t:Categories><t:String>Tracked to Dynamics 365</t:String></t:Categories>"
    "<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
    "PropertyName=\"crmtrackingid\" PropertyType=\"String\"/><t:Value>0001234</t:Value>"
    "</t:ExtendedProperty><t:ToRecipients><t:Mailbox><t:EmailAddress>bob@contoso.com"
    "</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items></m:CreateItem>";

/* Create the draft, return its ItemId Id into id. */
static void create_draft(char *id, size_t len)
{
  struct ec_resp r;
  xmlNodePtr msgs[2], iid;
  char code[64];

  call("alice@contoso.com", draft_with_prop, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  iid = exs_xml_path(msgs[0], EC_NS_T, "Items/Message/ItemId");
  if(!iid)
    iid = exs_xml_child(exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Items")), EC_NS_T,
                        "ItemId");
  ck_assert_ptr_nonnull(iid);
  ck_assert_ptr_nonnull(exs_xml_attr(iid, "Id", id, len));
  ec_free(&r);
}

START_TEST(getitem_returns_mime_and_extended_properties)
{
  char id[256], op[4096], buf[512];
  struct ec_resp r;
  xmlNodePtr msgs[2], m, ep;
  struct exs_buf mime;
  char *b64;

  create_draft(id, sizeof(id));
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "drafts"), 1);
  snprintf(op, sizeof(op),
           "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
           "<t:IncludeMimeContent>true</t:IncludeMimeContent><t:AdditionalProperties>"
           "<t:FieldURI FieldURI=\"item:Subject\"/><t:FieldURI FieldURI=\"item:Body\"/>"
           "<t:FieldURI FieldURI=\"item:Categories\"/>"
           "<t:FieldURI FieldURI=\"message:ToRecipients\"/><t:FieldURI FieldURI=\"message:From\"/>"
           "<t:FieldURI FieldURI=\"message:InternetMessageId\"/>"
           "<t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
           "PropertyName=\"crmtrackingid\" PropertyType=\"String\"/>"
           "</t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id=\"%s\"/>"
           "<t:ItemId Id=\"AAMkZXhzeW5jOkk6MDAwMDAwMDAwMDAwZmZmZg==\"/><t:ItemId Id=\"junk\"/>"
           "</m:ItemIds></m:GetItem>",
           id);
  call("alice@contoso.com", op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 2); /* capped at 2 by the caller */
  m = exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Items"));
  ck_assert(exs_xml_is(m, EC_NS_T, "Message"));
  ck_assert_str_eq(exs_xml_text(exs_xml_child(m, EC_NS_T, "Subject"), buf, sizeof(buf)),
                   "Draft & more");
  ck_assert_str_eq(exs_xml_text(exs_xml_path(m, EC_NS_T, "Categories/String"), buf, sizeof(buf)),
                   "Tracked to Dynamics 365");
  ep = exs_xml_child(m, EC_NS_T, "ExtendedProperty");
  ck_assert_str_eq(exs_xml_text(exs_xml_child(ep, EC_NS_T, "Value"), buf, sizeof(buf)), "0001234");
  ck_assert_str_eq(
      exs_xml_text(exs_xml_path(m, EC_NS_T, "From/Mailbox/EmailAddress"), buf, sizeof(buf)),
      "alice@contoso.com");
  b64 = (char *)xmlNodeGetContent(exs_xml_child(m, EC_NS_T, "MimeContent"));
  exs_buf_init(&mime, 1 << 20);
  ck_assert_int_eq(exs_base64_decode(&mime, b64, strlen(b64)), 0);
  ck_assert_ptr_nonnull(strstr(mime.data, "Subject: Draft & more\r\n"));
  ck_assert_ptr_nonnull(strstr(mime.data, "To: bob@contoso.com\r\n"));
  ck_assert_ptr_nonnull(strstr(mime.data, "\r\n\r\nBody text"));
  exs_buf_free(&mime);
  xmlFree(b64);
  ec_free(&r);
  {
    xmlNodePtr all[4];
    ec_post(url, SVC, ec_soap("Exchange2013_SP1", "alice@contoso.com", op), &r);
    ck_assert_uint_eq(ec_messages(&r, all, 4), 3);
    ck_assert_str_eq(ec_code(all[1], buf, sizeof(buf)), "ErrorItemNotFound");
    ck_assert_str_eq(ec_code(all[2], buf, sizeof(buf)), "ErrorInvalidIdMalformed");
    ec_free(&r);
  }
}
END_TEST

static const char *send_fmt =
    "<m:CreateItem MessageDisposition=\"%s\"><m:Items><t:Message><t:Subject>%s</t:Subject>"
    "<t:Body BodyType=\"HTML\">&lt;p&gt;Hello&lt;/p&gt;</t:Body><t:ToRecipients><t:Mailbox>"
    "<t:EmailAddress>bob@contoso.com</t:EmailAddress></t:Mailbox><t:Mailbox>"
    "<t:EmailAddress>outside@fabrikam.com</t:EmailAddress></t:Mailbox></t:ToRecipients>"
    "</t:Message></m:Items></m:CreateItem>";

START_TEST(createitem_send_delivers_between_mailboxes)
{
  static const struct {
    const char *disp;
    long bob_inbox, alice_sent, alice_drafts;
  } steps[] = {{"SendAndSaveCopy", 1, 1, 0}, {"SendOnly", 2, 1, 0}, {"SaveOnly", 2, 1, 1}};
  char op[2048], code[64];

  for(size_t i = 0; i < 3; i++) {
    struct ec_resp r;
    xmlNodePtr msgs[2];
    snprintf(op, sizeof(op), send_fmt, steps[i].disp, steps[i].disp);
    call("alice@contoso.com", op, 200, &r);
    ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
    ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
    /* sends answer with an empty Items, SaveOnly with the new id */
    ck_assert_uint_eq(count_children(exs_xml_child(msgs[0], EC_NS_M, "Items")),
                      strcmp(steps[i].disp, "SaveOnly") == 0 ? 1 : 0);
    ec_free(&r);
    ck_assert_int_eq(emu_folder_count(emu, "bob@contoso.com", "inbox"), steps[i].bob_inbox);
    ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "sentitems"), steps[i].alice_sent);
    ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "drafts"), steps[i].alice_drafts);
  }
  /* the delivered copy names the sender and the subject */
  {
    struct ec_resp r;
    xmlNodePtr msgs[2], items;
    char buf[256];
    call("bob@contoso.com",
         "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>Default</t:BaseShape>"
         "</m:ItemShape><m:Restriction><t:IsEqualTo><t:FieldURI FieldURI=\"item:Subject\"/>"
         "<t:FieldURIOrConstant><t:Constant Value=\"SendOnly\"/></t:FieldURIOrConstant>"
         "</t:IsEqualTo></m:Restriction><m:ParentFolderIds>"
         "<t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>",
         200, &r);
    ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
    items = exs_xml_path(msgs[0], EC_NS_M, "RootFolder");
    items = exs_xml_child(items, EC_NS_T, "Items");
    ck_assert_uint_eq(count_children(items), 1);
    ck_assert_str_eq(exs_xml_text(exs_xml_path(exs_xml_first_element(items), EC_NS_T,
                                               "From/Mailbox/EmailAddress"),
                                  buf, sizeof(buf)),
                     "alice@contoso.com");
    ec_free(&r);
  }
}
END_TEST

START_TEST(deleteitem_kinds)
{
  static const struct {
    const char *type;
    long drafts, deleted;
  } kinds[] = {{"MoveToDeletedItems", 0, 1}, {"SoftDelete", 0, 0}, {"HardDelete", 0, 0}};
  char id[256], op[1024], code[64];
  struct ec_resp r;
  xmlNodePtr msgs[2];

  create_draft(id, sizeof(id));
  snprintf(op, sizeof(op),
           "<m:DeleteItem DeleteType=\"%s\"><m:ItemIds><t:ItemId Id=\"%s\"/></m:ItemIds>"
           "</m:DeleteItem>",
           kinds[_i].type, id);
  call("alice@contoso.com", op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ec_free(&r);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "drafts"), kinds[_i].drafts);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "deleteditems"), kinds[_i].deleted);
  /* the old id is gone either way */
  call("alice@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "ErrorItemNotFound");
  ec_free(&r);
}
END_TEST

static const char *get_identity =
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
    "<t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
    "PropertyName=\"exsync.OrgId\" "
    "PropertyType=\"String\"/><t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
    "PropertyName=\"exsync.LastSync\" PropertyType=\"SystemTime\"/></t:AdditionalProperties>"
    "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"msgfolderroot\"/></m:FolderIds>"
    "</m:GetFolder>";

static size_t identity_values(struct ec_resp *r, char vals[2][128])
{
  xmlNodePtr msgs[2], f;
  size_t n = 0;

  ck_assert_uint_eq(ec_messages(r, msgs, 2), 1);
  f = exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Folders"));
  for(xmlNodePtr ep = exs_xml_child(f, EC_NS_T, "ExtendedProperty"); ep && n < 2;
      ep = exs_xml_next(ep, EC_NS_T, "ExtendedProperty"))
    exs_xml_text(exs_xml_child(ep, EC_NS_T, "Value"), vals[n++], 128);
  return n;
}

START_TEST(org_identity_is_written_and_read_back)
{
  struct ec_resp r;
  char vals[2][128], out[128], code[64];
  xmlNodePtr msgs[2];

  call("alice@contoso.com", get_identity, 200, &r);
  ck_assert_uint_eq(identity_values(&r, vals), 0);
  ec_free(&r);
  call("alice@contoso.com",
       "<m:UpdateFolder><m:FolderChanges><t:FolderChange>"
       "<t:DistinguishedFolderId Id=\"msgfolderroot\"/><t:Updates><t:SetFolderField>"
       "<t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
       "PropertyName=\"exsync.OrgId\" PropertyType=\"String\"/><t:Folder><t:ExtendedProperty>"
       "<t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
       "PropertyName=\"exsync.OrgId\" PropertyType=\"String\"/>"
       "<t:Value>6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10</t:Value></t:ExtendedProperty></t:Folder>"
       "</t:SetFolderField><t:SetFolderField><t:ExtendedFieldURI "
       "DistinguishedPropertySetId=\"PublicStrings\" PropertyName=\"exsync.LastSync\" "
       "PropertyType=\"SystemTime\"/><t:Folder><t:ExtendedProperty><t:ExtendedFieldURI "
       "DistinguishedPropertySetId=\"PublicStrings\" PropertyName=\"exsync.LastSync\" "
       "PropertyType=\"SystemTime\"/><t:Value>2026-11-29T19:00:00Z</t:Value>"
       "</t:ExtendedProperty></t:Folder></t:SetFolderField></t:Updates></t:FolderChange>"
       "</m:FolderChanges></m:UpdateFolder>",
       200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ec_free(&r);
  call("alice@contoso.com", get_identity, 200, &r);
  ck_assert_uint_eq(identity_values(&r, vals), 2);
  ck_assert_str_eq(vals[0], "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  ck_assert_str_eq(vals[1], "2026-11-29T19:00:00Z");
  ec_free(&r);
  ck_assert_int_eq(emu_get_folder_property(emu, "alice@contoso.com", "msgfolderroot",
                                           "exsync.OrgId", out, sizeof(out)),
                   0);
  ck_assert_str_eq(out, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  /* grace's root carries another org's identity from the scenario */
  call("grace@contoso.com", get_identity, 200, &r);
  ck_assert_uint_eq(identity_values(&r, vals), 2);
  ck_assert_str_eq(vals[0], "0b5c8a3e-7d21-4f6a-9c3b-5e8f1a2d4c60");
  ec_free(&r);
}
END_TEST

static const struct {
  const char *login, *target;
  long status;
  const char *fault; /* "" when success */
} imp_cases[] = {
    {SVC, "alice@contoso.com", 200, ""},
    {SVC, "ALICE@contoso.com", 200, ""},
    {SVC, "dave@contoso.com", 500, "ErrorImpersonateUserDenied"},
    {SVC, "ghost@contoso.com", 500, "ErrorNonExistentMailbox"},
    {"alice:alice-pw", "bob@contoso.com", 500, "ErrorImpersonateUserDenied"},
};

START_TEST(impersonation_rights)
{
  struct ec_resp r;
  char code[64];
  struct emu_journal_entry e;

  emu_journal_clear(emu);
  ec_post(url, imp_cases[_i].login,
          ec_soap("Exchange2013_SP1", imp_cases[_i].target,
                  "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
                  "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds>"
                  "</m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, imp_cases[_i].status);
  ec_validate(&r);
  ck_assert_str_eq(ec_fault(&r, code, sizeof(code)), imp_cases[_i].fault);
  ec_free(&r);
  ck_assert_uint_eq(emu_journal_get(emu, 0, &e, 1), 1);
  ck_assert_str_eq(e.impersonated, imp_cases[_i].target);
  ck_assert_str_eq(e.response_code, imp_cases[_i].fault[0] ? imp_cases[_i].fault : "NoError");
}
END_TEST

static const struct {
  const char *mailbox;
  const char *code;
} delegate_cases[] = {
    {"alice@contoso.com", "NoError"},
    {"dave@contoso.com", "ErrorAccessDenied"},
    {"ghost@contoso.com", "ErrorNonExistentMailbox"},
};

START_TEST(delegate_access_by_mailbox_element)
{
  struct ec_resp r;
  xmlNodePtr msgs[2];
  char op[1024], code[64];

  snprintf(op, sizeof(op),
           "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>"
           "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"><t:Mailbox><t:EmailAddress>%s"
           "</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>",
           delegate_cases[_i].mailbox);
  call(NULL, op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), delegate_cases[_i].code);
  ec_free(&r);
}
END_TEST

START_TEST(access_denied_folder)
{
  struct ec_resp r;
  xmlNodePtr msgs[3];
  char code[64];

  call("erin@contoso.com",
       "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
       "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
       "<t:DistinguishedFolderId Id=\"calendar\"/></m:FolderIds></m:GetFolder>",
       200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 3), 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "ErrorAccessDenied");
  ck_assert_str_eq(ec_code(msgs[1], code, sizeof(code)), "NoError");
  ec_free(&r);
}
END_TEST

START_TEST(sync_folder_hierarchy_initial_then_incremental)
{
  static const char *fmt =
      "<m:SyncFolderHierarchy><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
      "<t:AdditionalProperties><t:FieldURI FieldURI=\"folder:DisplayName\"/>"
      "<t:FieldURI FieldURI=\"folder:ParentFolderId\"/></t:AdditionalProperties></m:FolderShape>"
      "<m:SyncFolderId><t:DistinguishedFolderId Id=\"msgfolderroot\"/></m:SyncFolderId>%s"
      "</m:SyncFolderHierarchy>";
  char op[2048], state[256], tmp[300], code[64], fid[256], gone[256];
  struct ec_resp r;
  xmlNodePtr msgs[2], ch;

  snprintf(op, sizeof(op), fmt, "");
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_uint_eq(count_children(exs_xml_child(msgs[0], EC_NS_M, "Changes")), 9);
  exs_xml_text(exs_xml_child(msgs[0], EC_NS_M, "SyncState"), state, sizeof(state));
  ck_assert(state[0]);
  ec_free(&r);
  call("carol@contoso.com",
       "<m:CreateFolder><m:ParentFolderId><t:DistinguishedFolderId Id=\"inbox\"/>"
       "</m:ParentFolderId><m:Folders><t:Folder><t:DisplayName>Undeliverable</t:DisplayName>"
       "</t:Folder></m:Folders></m:CreateFolder>",
       200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  exs_xml_attr(exs_xml_path(exs_xml_child(msgs[0], EC_NS_M, "Folders"), EC_NS_T, "Folder/FolderId"),
               "Id", fid, sizeof(fid));
  ec_free(&r);
  snprintf(tmp, sizeof(tmp), "<m:SyncState>%s</m:SyncState>", state);
  snprintf(op, sizeof(op), fmt, tmp);
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ch = exs_xml_child(msgs[0], EC_NS_M, "Changes");
  ck_assert_uint_eq(count_children(ch), 1);
  ck_assert(exs_xml_is(exs_xml_first_element(ch), EC_NS_T, "Create"));
  exs_xml_text(exs_xml_child(msgs[0], EC_NS_M, "SyncState"), state, sizeof(state));
  ec_free(&r);

  /* a rename is an Update, a removal a Delete of the same id */
  snprintf(op, sizeof(op),
           "<m:UpdateFolder><m:FolderChanges><t:FolderChange><t:FolderId Id=\"%s\"/><t:Updates>"
           "<t:SetFolderField><t:FieldURI FieldURI=\"folder:DisplayName\"/><t:Folder>"
           "<t:DisplayName>Undeliverable mail</t:DisplayName></t:Folder></t:SetFolderField>"
           "</t:Updates></t:FolderChange></m:FolderChanges></m:UpdateFolder>",
           fid);
  call("carol@contoso.com", op, 200, &r);
  ec_free(&r);
  snprintf(tmp, sizeof(tmp), "<m:SyncState>%s</m:SyncState>", state);
  snprintf(op, sizeof(op), fmt, tmp);
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ch = exs_xml_child(msgs[0], EC_NS_M, "Changes");
  ck_assert_uint_eq(count_children(ch), 1);
  ck_assert(exs_xml_is(exs_xml_first_element(ch), EC_NS_T, "Update"));
  ck_assert_str_eq(
      exs_xml_text(exs_xml_path(ch, EC_NS_T, "Update/Folder/DisplayName"), tmp, sizeof(tmp)),
      "Undeliverable mail");
  exs_xml_text(exs_xml_child(msgs[0], EC_NS_M, "SyncState"), state, sizeof(state));
  ec_free(&r);
  snprintf(op, sizeof(op),
           "<m:DeleteFolder DeleteType=\"HardDelete\"><m:FolderIds><t:FolderId Id=\"%s\"/>"
           "</m:FolderIds></m:DeleteFolder>",
           fid);
  call("carol@contoso.com", op, 200, &r);
  ec_free(&r);
  snprintf(tmp, sizeof(tmp), "<m:SyncState>%s</m:SyncState>", state);
  snprintf(op, sizeof(op), fmt, tmp);
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ch = exs_xml_child(msgs[0], EC_NS_M, "Changes");
  ck_assert_uint_eq(count_children(ch), 1);
  exs_xml_attr(exs_xml_path(ch, EC_NS_T, "Delete/FolderId"), "Id", gone, sizeof(gone));
  ck_assert_str_eq(gone, fid);
  ec_free(&r);
  snprintf(op, sizeof(op), fmt, "<m:SyncState>bm90IGEgc3RhdGU=</m:SyncState>");
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "ErrorInvalidSyncStateData");
  ec_free(&r);
}
END_TEST

START_TEST(findfolder_and_createfolder_conflict)
{
  static const char *create =
      "<m:CreateFolder><m:ParentFolderId><t:DistinguishedFolderId Id=\"inbox\"/>"
      "</m:ParentFolderId><m:Folders><t:Folder><t:DisplayName>Undeliverable</t:DisplayName>"
      "</t:Folder></m:Folders></m:CreateFolder>";
  struct ec_resp r;
  xmlNodePtr msgs[2], rf;
  char code[64];

  call("bob@contoso.com", create, 200, &r);
  ec_free(&r);
  call("bob@contoso.com", create, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "ErrorFolderExists");
  ec_free(&r);
  call("bob@contoso.com",
       "<m:FindFolder Traversal=\"Shallow\"><m:FolderShape><t:BaseShape>Default</t:BaseShape>"
       "</m:FolderShape><m:Restriction><t:IsEqualTo><t:FieldURI FieldURI=\"folder:DisplayName\"/>"
       "<t:FieldURIOrConstant><t:Constant Value=\"undeliverable\"/></t:FieldURIOrConstant>"
       "</t:IsEqualTo></m:Restriction><m:ParentFolderIds>"
       "<t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindFolder>",
       200, &r);
  ec_messages(&r, msgs, 2);
  rf = exs_xml_child(msgs[0], EC_NS_M, "RootFolder");
  ck_assert_int_eq(attr_long(rf, "TotalItemsInView"), 1);
  ec_free(&r);
}
END_TEST

START_TEST(resolve_names)
{
  struct ec_resp r;
  xmlNodePtr msgs[2];
  char code[64];

  call(NULL,
       "<m:ResolveNames ReturnFullContactData=\"false\"><m:UnresolvedEntry>"
       "alice@contoso.com</m:UnresolvedEntry></m:ResolveNames>",
       200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ec_free(&r);
  call(NULL,
       "<m:ResolveNames ReturnFullContactData=\"false\"><m:UnresolvedEntry>"
       "ghost@contoso.com</m:UnresolvedEntry></m:ResolveNames>",
       200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "ErrorNameResolutionNoResults");
  ec_free(&r);
}
END_TEST

/* SyncFolderItems on bob's inbox: state S, max M -> counts of each change kind. */
struct sync_result {
  size_t creates, updates, deletes;
  char last[8];
  char state[512];
  char first_id[256];
};

static void sync_items(const char *state, int max, struct sync_result *out, const char *code)
{
  char op[2048], tmp[600], c[64];
  struct ec_resp r;
  xmlNodePtr msgs[2], changes;

  memset(out, 0, sizeof(*out));
  tmp[0] = '\0';
  if(state)
    snprintf(tmp, sizeof(tmp), "<m:SyncState>%s</m:SyncState>", state);
  snprintf(op, sizeof(op),
           "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
           "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:Subject\"/>"
           "<t:FieldURI FieldURI=\"message:IsRead\"/></t:AdditionalProperties></m:ItemShape>"
           "<m:SyncFolderId><t:DistinguishedFolderId Id=\"inbox\"/></m:SyncFolderId>%s"
           "<m:MaxChangesReturned>%d</m:MaxChangesReturned>"
           "<m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>",
           tmp, max);
  call("bob@contoso.com", op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  ck_assert_str_eq(ec_code(msgs[0], c, sizeof(c)), code);
  exs_xml_text(exs_xml_child(msgs[0], EC_NS_M, "SyncState"), out->state, sizeof(out->state));
  exs_xml_text(exs_xml_child(msgs[0], EC_NS_M, "IncludesLastItemInRange"), out->last,
               sizeof(out->last));
  changes = exs_xml_child(msgs[0], EC_NS_M, "Changes");
  for(xmlNodePtr k = changes ? changes->children : NULL; k; k = k->next) {
    xmlNodePtr id;
    if(exs_xml_is(k, EC_NS_T, "Create"))
      out->creates++;
    else if(exs_xml_is(k, EC_NS_T, "Update"))
      out->updates++;
    else if(exs_xml_is(k, EC_NS_T, "Delete"))
      out->deletes++;
    id = exs_xml_is(k, EC_NS_T, "Delete")
             ? exs_xml_child(k, EC_NS_T, "ItemId")
             : exs_xml_child(exs_xml_first_element(k), EC_NS_T, "ItemId");
    if(!out->first_id[0] && id)
      exs_xml_attr(id, "Id", out->first_id, sizeof(out->first_id));
  }
  ec_free(&r);
}

START_TEST(sync_folder_items_creates_updates_deletes)
{
  char err[256], op[2048], code[64], s1[512];
  struct sync_result a, b;
  struct ec_resp r;
  xmlNodePtr msgs[2];

  for(int i = 0; i < 3; i++)
    ck_assert_int_eq(emu_deliver_message(emu, NULL, "bob@contoso.com", "s", "b", err, sizeof(err)),
                     0);
  sync_items(NULL, 2, &a, "NoError");
  ck_assert_uint_eq(a.creates, 2);
  ck_assert_str_eq(a.last, "false");
  sync_items(a.state, 2, &b, "NoError");
  ck_assert_uint_eq(b.creates, 1);
  ck_assert_str_eq(b.last, "true");
  snprintf(s1, sizeof(s1), "%s", b.state);

  /* update the first item: read flag, category, extended property */
  snprintf(op, sizeof(op),
           "<m:UpdateItem MessageDisposition=\"SaveOnly\" ConflictResolution=\"AutoResolve\">"
           "<m:ItemChanges><t:ItemChange><t:ItemId Id=\"%s\"/><t:Updates><t:SetItemField>"
           "<t:FieldURI FieldURI=\"item:Categories\"/><t:Message><t:Categories>"
           "<t:String>Tracked to Dynamics 365</t:String></t:Categories></t:Message>"
           "</t:SetItemField><t:SetItemField><t:ExtendedFieldURI "
           "DistinguishedPropertySetId=\"PublicStrings\" PropertyName=\"crmid\" "
           "PropertyType=\"String\"/><t:Message><t:ExtendedProperty><t:ExtendedFieldURI "
           "DistinguishedPropertySetId=\"PublicStrings\" PropertyName=\"crmid\" "
           "PropertyType=\"String\"/><t:Value>{42}</t:Value></t:ExtendedProperty></t:Message>"
           "</t:SetItemField><t:SetItemField><t:FieldURI FieldURI=\"message:IsRead\"/>"
           "<t:Message><t:IsRead>true</t:IsRead></t:Message></t:SetItemField></t:Updates>"
           "</t:ItemChange></m:ItemChanges></m:UpdateItem>",
           a.first_id);
  call("bob@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ec_free(&r);
  sync_items(s1, 100, &b, "NoError");
  ck_assert_uint_eq(b.creates, 0);
  ck_assert_uint_eq(b.updates, 1);
  ck_assert_str_eq(b.first_id, a.first_id);
  snprintf(s1, sizeof(s1), "%s", b.state);

  /* a stale change key is a conflict unless AlwaysOverwrite */
  snprintf(op, sizeof(op),
           "<m:UpdateItem MessageDisposition=\"SaveOnly\" ConflictResolution=\"%s\">"
           "<m:ItemChanges><t:ItemChange><t:ItemId Id=\"%s\" ChangeKey=\"Y2s6STowMDAwMDAwMQ==\"/>"
           "<t:Updates><t:SetItemField><t:FieldURI FieldURI=\"item:Subject\"/><t:Message>"
           "<t:Subject>changed</t:Subject></t:Message></t:SetItemField></t:Updates>"
           "</t:ItemChange></m:ItemChanges></m:UpdateItem>",
           "AutoResolve", a.first_id);
  call("bob@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "ErrorIrresolvableConflict");
  ec_free(&r);

  /* delete it: a Delete with the same id */
  snprintf(op, sizeof(op),
           "<m:DeleteItem DeleteType=\"HardDelete\"><m:ItemIds><t:ItemId Id=\"%s\"/>"
           "</m:ItemIds></m:DeleteItem>",
           a.first_id);
  call("bob@contoso.com", op, 200, &r);
  ec_free(&r);
  sync_items(s1, 100, &b, "NoError");
  ck_assert_uint_eq(b.deletes, 1);
  ck_assert_uint_eq(b.creates + b.updates, 0);
  ck_assert_str_eq(b.first_id, a.first_id);
  snprintf(s1, sizeof(s1), "%s", b.state);
  sync_items(s1, 100, &b, "NoError");
  ck_assert_uint_eq(b.creates + b.updates + b.deletes, 0);
  ck_assert_str_eq(b.last, "true");
  sync_items("bm90IGEgc3RhdGU=", 100, &b, "ErrorInvalidSyncStateData");
}
END_TEST

/* Calendar items, contacts and tasks: created, read back in schema order,
 * updated, and seen by SyncFolderItems. */
static const struct {
  const char *folder, *elem, *create, *field, *value, *update_uri, *update_item, *updated;
} typed[] = {
    {"calendar", "CalendarItem",
     "<m:CreateItem SendMeetingInvitations=\"SendToNone\"><m:SavedItemFolderId>"
     "<t:DistinguishedFolderId Id=\"calendar\"/></m:SavedItemFolderId><m:Items><t:CalendarItem>"
     "<t:Subject>Product demo</t:Subject><t:Body BodyType=\"Text\">Agenda</t:Body>"
     "<t:ReminderMinutesBeforeStart>15</t:ReminderMinutesBeforeStart>"
     "<t:Start>2024-05-02T14:00:00Z</t:Start><t:End>2024-05-02T15:00:00Z</t:End>"
     "<t:IsAllDayEvent>false</t:IsAllDayEvent><t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus>"
     "<t:Location>Room 1</t:Location><t:RequiredAttendees><t:Attendee><t:Mailbox>"
     "<t:EmailAddress>alice@fabrikam.com</t:EmailAddress></t:Mailbox></t:Attendee>"
     "</t:RequiredAttendees></t:CalendarItem></m:Items></m:CreateItem>",
     "Location", "Room 1", "calendar:Location",
     "<t:CalendarItem><t:Location>Room 2</t:Location>"
     "</t:CalendarItem>",
     "Room 2"},
    {"contacts", "Contact",
     "<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id=\"contacts\"/>"
     "</m:SavedItemFolderId><m:Items><t:Contact><t:FileAs>Smith, Alice</t:FileAs>"
     "<t:GivenName>Alice</t:GivenName><t:CompanyName>Fabrikam</t:CompanyName>"
     "<t:EmailAddresses><t:Entry Key=\"EmailAddress1\">alice@fabrikam.com</t:Entry>"
     "</t:EmailAddresses><t:PhoneNumbers><t:Entry Key=\"BusinessPhone\">+1 425 555 0100"
     "</t:Entry></t:PhoneNumbers><t:JobTitle>Buyer</t:JobTitle><t:Surname>Smith</t:Surname>"
     "</t:Contact></m:Items></m:CreateItem>",
     "GivenName", "Alice", "contacts:JobTitle",
     "<t:Contact><t:JobTitle>Manager</t:JobTitle>"
     "</t:Contact>",
     NULL},
    {"tasks", "Task",
     "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:SavedItemFolderId>"
     "<t:DistinguishedFolderId Id=\"tasks\"/></m:SavedItemFolderId><m:Items><t:Task>"
     "<t:Subject>Call back Alice</t:Subject><t:Body BodyType=\"Text\">About order 1001</t:Body>"
     "<t:DueDate>2024-05-03T17:00:00Z</t:DueDate><t:StartDate>2024-05-02T09:00:00Z</t:StartDate>"
     "<t:Status>NotStarted</t:Status></t:Task></m:Items></m:CreateItem>",
     "Status", "NotStarted", "task:Status", "<t:Task><t:Status>Completed</t:Status></t:Task>",
     "Completed"},
};

START_TEST(calendar_contact_task_round_trip)
{
  struct ec_resp r;
  xmlNodePtr msgs[2], item;
  char id[256], op[4096], buf[256], code[64], state[512];

  /* initial sync state of the folder */
  snprintf(op, sizeof(op),
           "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
           "<m:SyncFolderId><t:DistinguishedFolderId Id=\"%s\"/></m:SyncFolderId>"
           "<m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>",
           typed[_i].folder);
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  exs_xml_text(exs_xml_child(msgs[0], EC_NS_M, "SyncState"), state, sizeof(state));
  ec_free(&r);

  call("carol@contoso.com", typed[_i].create, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  item = exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Items"));
  ck_assert(exs_xml_is(item, EC_NS_T, typed[_i].elem));
  exs_xml_attr(exs_xml_child(item, EC_NS_T, "ItemId"), "Id", id, sizeof(id));
  ec_free(&r);
  ck_assert_int_eq(emu_folder_count(emu, "carol@contoso.com", typed[_i].folder), 1);

  snprintf(op, sizeof(op),
           "<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>"
           "<m:ItemIds><t:ItemId Id=\"%s\"/></m:ItemIds></m:GetItem>",
           id);
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  item = exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Items"));
  ck_assert(exs_xml_is(item, EC_NS_T, typed[_i].elem));
  ck_assert_str_eq(exs_xml_text(exs_xml_child(item, EC_NS_T, typed[_i].field), buf, sizeof(buf)),
                   typed[_i].value);
  ec_free(&r);

  snprintf(op, sizeof(op),
           "<m:UpdateItem ConflictResolution=\"AlwaysOverwrite\" MessageDisposition=\"SaveOnly\""
           " SendMeetingInvitationsOrCancellations=\"SendToNone\"><m:ItemChanges><t:ItemChange>"
           "<t:ItemId Id=\"%s\"/><t:Updates><t:SetItemField><t:FieldURI FieldURI=\"%s\"/>%s"
           "</t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>",
           id, typed[_i].update_uri, typed[_i].update_item);
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ec_free(&r);

  /* the incremental sync sees one Create (created and changed since the state) */
  snprintf(op, sizeof(op),
           "<m:SyncFolderItems><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>"
           "<m:SyncFolderId><t:DistinguishedFolderId Id=\"%s\"/></m:SyncFolderId>"
           "<m:SyncState>%s</m:SyncState><m:MaxChangesReturned>512</m:MaxChangesReturned>"
           "</m:SyncFolderItems>",
           typed[_i].folder, state);
  call("carol@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  item = exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Changes"));
  ck_assert(exs_xml_is(item, EC_NS_T, "Create"));
  item = exs_xml_first_element(item);
  ck_assert(exs_xml_is(item, EC_NS_T, typed[_i].elem));
  if(typed[_i].updated)
    ck_assert_str_eq(exs_xml_text(exs_xml_child(item, EC_NS_T, typed[_i].field), buf, sizeof(buf)),
                     typed[_i].updated);
  else
    ck_assert_str_eq(exs_xml_text(exs_xml_child(item, EC_NS_T, "JobTitle"), buf, sizeof(buf)),
                     "Manager");
  ec_free(&r);
}
END_TEST

START_TEST(many_items_lookups_after_deletes)
{
  enum { N = 300 };
  char err[256], code[64];
  static char ids[N][128];
  struct ec_resp r;
  xmlNodePtr msgs[2], items;
  struct exs_buf op;
  size_t n = 0;

  for(int i = 0; i < N; i++)
    ck_assert_int_eq(emu_deliver_message(emu, NULL, "bob@contoso.com", "m", "b", err, sizeof(err)),
                     0);
  call("bob@contoso.com",
       "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
       "</m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
       "</m:ParentFolderIds></m:FindItem>",
       200, &r);
  ec_messages(&r, msgs, 2);
  items = exs_xml_child(exs_xml_child(msgs[0], EC_NS_M, "RootFolder"), EC_NS_T, "Items");
  for(xmlNodePtr m = items->children; m; m = m->next)
    if(m->type == XML_ELEMENT_NODE && n < N)
      exs_xml_attr(exs_xml_child(m, EC_NS_T, "ItemId"), "Id", ids[n++], sizeof(ids[0]));
  ec_free(&r);
  ck_assert_uint_eq(n, N);
  exs_buf_init(&op, 1 << 20);
  exs_buf_adds(&op, "<m:DeleteItem DeleteType=\"HardDelete\"><m:ItemIds>");
  for(size_t i = 0; i < N; i += 3)
    exs_buf_addf(&op, "<t:ItemId Id=\"%s\"/>", ids[i]);
  exs_buf_adds(&op, "</m:ItemIds></m:DeleteItem>");
  call("bob@contoso.com", op.data, 200, &r);
  ec_free(&r);
  ck_assert_int_eq(emu_folder_count(emu, "bob@contoso.com", "inbox"), N - (N + 2) / 3);
  exs_buf_reset(&op);
  exs_buf_adds(&op, "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
                    "<m:ItemIds>");
  for(size_t i = 0; i < N; i++)
    exs_buf_addf(&op, "<t:ItemId Id=\"%s\"/>", ids[i]);
  exs_buf_adds(&op, "</m:ItemIds></m:GetItem>");
  call("bob@contoso.com", op.data, 200, &r);
  {
    xmlNodePtr all[N];
    ck_assert_uint_eq(ec_messages(&r, all, N), N);
    for(size_t i = 0; i < N; i++)
      ck_assert_str_eq(ec_code(all[i], code, sizeof(code)),
                       i % 3 == 0 ? "ErrorItemNotFound" : "NoError");
  }
  ec_free(&r);
  exs_buf_free(&op);
}
END_TEST

START_TEST(convert_id_round_trip_names_the_owner)
{
  struct ec_resp r;
  xmlNodePtr msgs[3], alt;
  char root[256], hex[256], back[256], op[2048], code[64], mbx[128];

  /* the root folder id of alice, read as svc-crm impersonating her */
  call("alice@contoso.com",
       "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
       "<m:FolderIds><t:DistinguishedFolderId Id=\"msgfolderroot\"/></m:FolderIds>"
       "</m:GetFolder>",
       200, &r);
  ec_messages(&r, msgs, 2);
  exs_xml_attr(exs_xml_child(exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Folders")),
                             EC_NS_T, "FolderId"),
               "Id", root, sizeof(root));
  ec_free(&r);
  snprintf(op, sizeof(op),
           "<m:ConvertId DestinationFormat=\"HexEntryId\"><m:SourceIds>"
           "<t:AlternateId Format=\"EwsId\" Id=\"%s\" Mailbox=\"someone@contoso.com\"/>"
           "<t:AlternateId Format=\"EwsId\" Id=\"junk\" Mailbox=\"someone@contoso.com\"/>"
           "</m:SourceIds></m:ConvertId>",
           root);
  call(NULL, op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 3), 2);
  alt = exs_xml_child(msgs[0], EC_NS_M, "AlternateId");
  exs_xml_attr(alt, "Id", hex, sizeof(hex));
  exs_xml_attr(alt, "Mailbox", mbx, sizeof(mbx));
  ck_assert_str_eq(mbx, "alice@contoso.com"); /* DavMail learns the address this way */
  ck_assert_str_eq(ec_code(msgs[1], code, sizeof(code)), "ErrorInvalidIdMalformed");
  ec_free(&r);
  snprintf(op, sizeof(op),
           "<m:ConvertId DestinationFormat=\"EwsId\"><m:SourceIds>"
           "<t:AlternateId Format=\"HexEntryId\" Id=\"%s\" Mailbox=\"alice@contoso.com\"/>"
           "</m:SourceIds></m:ConvertId>",
           hex);
  call(NULL, op, 200, &r);
  ec_messages(&r, msgs, 2);
  exs_xml_attr(exs_xml_child(msgs[0], EC_NS_M, "AlternateId"), "Id", back, sizeof(back));
  ck_assert_str_eq(back, root);
  ec_free(&r);
}
END_TEST

START_TEST(delete_folder)
{
  struct ec_resp r;
  xmlNodePtr msgs[3], f;
  char id[256], op[1024], code[64];

  call("bob@contoso.com",
       "<m:CreateFolder><m:ParentFolderId><t:DistinguishedFolderId Id=\"inbox\"/>"
       "</m:ParentFolderId><m:Folders><t:Folder><t:DisplayName>Old</t:DisplayName></t:Folder>"
       "</m:Folders></m:CreateFolder>",
       200, &r);
  ec_messages(&r, msgs, 2);
  f = exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Folders"));
  exs_xml_attr(exs_xml_child(f, EC_NS_T, "FolderId"), "Id", id, sizeof(id));
  ec_free(&r);
  snprintf(op, sizeof(op),
           "<m:DeleteFolder DeleteType=\"HardDelete\"><m:FolderIds><t:FolderId Id=\"%s\"/>"
           "<t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:DeleteFolder>",
           id);
  call("bob@contoso.com", op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 3), 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ck_assert_str_eq(ec_code(msgs[1], code, sizeof(code)), "ErrorDeleteDistinguishedFolder");
  ec_free(&r);
  snprintf(op, sizeof(op),
           "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
           "<m:FolderIds><t:FolderId Id=\"%s\"/></m:FolderIds></m:GetFolder>",
           id);
  call("bob@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "ErrorFolderNotFound");
  ec_free(&r);
}
END_TEST

START_TEST(calendar_view)
{
  static const char *times[][2] = {{"2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z"},
                                   {"2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"},
                                   {"2026-04-01T09:00:00Z", "2026-04-01T10:00:00Z"}};
  struct ec_resp r;
  xmlNodePtr msgs[2], rf;
  char op[2048], buf[64];

  for(int i = 2; i >= 0; i--) {
    snprintf(op, sizeof(op),
             "<m:CreateItem SendMeetingInvitations=\"SendToNone\"><m:Items><t:CalendarItem>"
             "<t:Subject>m%d</t:Subject><t:Start>%s</t:Start><t:End>%s</t:End>"
             "</t:CalendarItem></m:Items></m:CreateItem>",
             i, times[i][0], times[i][1]);
    call("carol@contoso.com", op, 200, &r);
    ec_free(&r);
  }
  call("carol@contoso.com",
       "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
       "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:Subject\"/>"
       "<t:FieldURI FieldURI=\"calendar:Start\"/></t:AdditionalProperties></m:ItemShape>"
       "<m:CalendarView StartDate=\"2026-03-01T00:00:00Z\" EndDate=\"2026-03-31T00:00:00Z\"/>"
       "<m:ParentFolderIds><t:DistinguishedFolderId Id=\"calendar\"/></m:ParentFolderIds>"
       "</m:FindItem>",
       200, &r);
  ec_messages(&r, msgs, 2);
  rf = exs_xml_child(exs_xml_child(msgs[0], EC_NS_M, "RootFolder"), EC_NS_T, "Items");
  ck_assert_uint_eq(count_children(rf), 2);
  ck_assert_str_eq(
      exs_xml_text(exs_xml_child(exs_xml_first_element(rf), EC_NS_T, "Subject"), buf, sizeof(buf)),
      "m0");
  ck_assert_str_eq(
      exs_xml_text(exs_xml_child(exs_xml_first_element(rf), EC_NS_T, "Start"), buf, sizeof(buf)),
      "2026-03-01T09:00:00Z");
  ec_free(&r);
}
END_TEST

START_TEST(createitem_from_mime)
{
  static const char mime[] = "From: Alice <alice@contoso.com>\r\nTo: Bob <bob@contoso.com>, "
                             "x@fabrikam.com\r\nSubject: From MIME\r\nMessage-ID: <m1@x>\r\n"
                             "\r\nMIME body\r\n";
  struct exs_buf b64;
  char op[2048], buf[256], code[64];
  struct ec_resp r;
  xmlNodePtr msgs[2], m;

  exs_buf_init(&b64, 4096);
  exs_base64_encode(&b64, (const unsigned char *)mime, strlen(mime));
  snprintf(op, sizeof(op),
           "<m:CreateItem MessageDisposition=\"SendOnly\"><m:Items><t:Message>"
           "<t:MimeContent CharacterSet=\"UTF-8\">%s</t:MimeContent></t:Message></m:Items>"
           "</m:CreateItem>",
           b64.data);
  exs_buf_free(&b64);
  call("alice@contoso.com", op, 200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ec_free(&r);
  ck_assert_int_eq(emu_folder_count(emu, "bob@contoso.com", "inbox"), 1);
  call("bob@contoso.com",
       "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape>"
       "</m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
       "</m:ParentFolderIds></m:FindItem>",
       200, &r);
  ec_messages(&r, msgs, 2);
  m = exs_xml_first_element(
      exs_xml_child(exs_xml_child(msgs[0], EC_NS_M, "RootFolder"), EC_NS_T, "Items"));
  ck_assert_str_eq(exs_xml_text(exs_xml_child(m, EC_NS_T, "Subject"), buf, sizeof(buf)),
                   "From MIME");
  ck_assert_str_eq(exs_xml_text(exs_xml_child(m, EC_NS_T, "InternetMessageId"), buf, sizeof(buf)),
                   "<m1@x>");
  ck_assert_str_eq(
      exs_xml_text(exs_xml_path(m, EC_NS_T, "From/Mailbox/EmailAddress"), buf, sizeof(buf)),
      "alice@contoso.com");
  ec_free(&r);
}
END_TEST

START_TEST(owa_user_options)
{
  struct ec_resp r;
  xmlNodePtr msgs[2];
  char code[64], buf[64];

  call("alice@contoso.com",
       "<m:GetUserConfiguration><m:UserConfigurationName Name=\"OWA.UserOptions\">"
       "<t:DistinguishedFolderId Id=\"root\"/></m:UserConfigurationName>"
       "<m:UserConfigurationProperties>All</m:UserConfigurationProperties>"
       "</m:GetUserConfiguration>",
       200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "NoError");
  ck_assert_str_eq(
      exs_xml_text(exs_xml_path(msgs[0], EC_NS_M, "UserConfiguration"), buf, sizeof(buf)),
      "StringtimezoneStringUTC");
  ec_free(&r);
  call("alice@contoso.com",
       "<m:GetUserConfiguration><m:UserConfigurationName Name=\"Other.Config\">"
       "<t:DistinguishedFolderId Id=\"root\"/></m:UserConfigurationName>"
       "<m:UserConfigurationProperties>All</m:UserConfigurationProperties>"
       "</m:GetUserConfiguration>",
       200, &r);
  ec_messages(&r, msgs, 2);
  ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), "ErrorItemNotFound");
  ec_free(&r);
}
END_TEST

/* contoso.xml: one mailbox per failure class, as svc-crm impersonating it */
static const struct {
  const char *mailbox;
  long status;
  const char *code; /* fault or ResponseCode; NULL: not SOAP */
} classes[] = {
    {"alice@contoso.com", 200, "NoError"},
    {"bob@contoso.com", 200, "NoError"},
    {"carol@contoso.com", 200, "NoError"},
    {"dave@contoso.com", 500, "ErrorImpersonateUserDenied"},
    {"ghost@contoso.com", 500, "ErrorNonExistentMailbox"},
    {"erin@contoso.com", 200, "ErrorAccessDenied"},
    {"frank@contoso.com", 500, "ErrorServerBusy"},
    {"grace@contoso.com", 200, "NoError"},
    {"henry@contoso.com", 500, NULL},
};

START_TEST(contoso_failure_classes)
{
  struct ec_resp r;
  xmlNodePtr msgs[2];
  char code[64];

  ec_post(url, SVC,
          ec_soap("Exchange2013_SP1", classes[_i].mailbox,
                  "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
                  "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds>"
                  "</m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, classes[_i].status);
  if(!classes[_i].code) {
    ck_assert_ptr_nonnull(strstr(r.body.data, "<html>"));
  }
  else if(r.status == 500) {
    ec_validate(&r);
    ck_assert_str_eq(ec_fault(&r, code, sizeof(code)), classes[_i].code);
  }
  else {
    ec_validate(&r);
    ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
    ck_assert_str_eq(ec_code(msgs[0], code, sizeof(code)), classes[_i].code);
  }
  ec_free(&r);
}
END_TEST

/* The value of the ExtendedProperty with PropertyTag tag under item/folder
 * n, or NULL. */
static const char *ext_tag(xmlNodePtr n, const char *tag, char *buf, size_t len)
{
  for(xmlNodePtr ep = exs_xml_child(n, EC_NS_T, "ExtendedProperty"); ep;
      ep = exs_xml_next(ep, EC_NS_T, "ExtendedProperty")) {
    char t[32];
    if(exs_xml_attr(exs_xml_child(ep, EC_NS_T, "ExtendedFieldURI"), "PropertyTag", t, sizeof(t)) &&
       strtoul(t, NULL, 0) == strtoul(tag, NULL, 0))
      return exs_xml_text(exs_xml_child(ep, EC_NS_T, "Value"), buf, len);
  }
  return NULL;
}

/* What DavMail (an IMAP/CalDAV gateway) reads: MAPI properties derived
 * from each item and folder (the article number is its IMAP UID),
 * properties it set used in restrictions, the iCalendar MIME of a calendar
 * item (its VTIMEZONE is how it learns the mailbox's zone), CopyItem. */
START_TEST(davmail_mapi_properties)
{
  char err[256], op[4096], buf[512], id[256];
  struct ec_resp r;
  xmlNodePtr msgs[2], items, m, f;
  unsigned long uid1, uid2;

  for(int i = 0; i < 2; i++)
    ck_assert_int_eq(emu_deliver_message(emu, "x@fabrikam.com", "alice@contoso.com",
                                         i ? "second" : "first", "text", err, sizeof(err)),
                     0);
  /* FindItem as DavMail lists a folder (client-requests/davmail/0036) */
  call("alice@contoso.com",
       "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
       "<t:AdditionalProperties><t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
       "PropertyName=\"Keywords\" PropertyType=\"StringArray\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0xe23\" PropertyType=\"Integer\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0xe07\" PropertyType=\"Integer\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0x3008\" PropertyType=\"SystemTime\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0xe06\" PropertyType=\"SystemTime\"/>"
       "<t:FieldURI FieldURI=\"message:IsRead\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0xff9\" PropertyType=\"Binary\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0xe08\" PropertyType=\"Integer\"/>"
       "</t:AdditionalProperties></m:ItemShape>"
       "<m:IndexedPageItemView MaxEntriesReturned=\"500\" Offset=\"0\" BasePoint=\"Beginning\"/>"
       "<m:SortOrder><t:FieldOrder Order=\"Descending\"><t:ExtendedFieldURI PropertyTag=\"0xe23\" "
       "PropertyType=\"Integer\"/></t:FieldOrder></m:SortOrder>"
       "<m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds>"
       "</m:FindItem>",
       200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  items = exs_xml_child(exs_xml_child(msgs[0], EC_NS_M, "RootFolder"), EC_NS_T, "Items");
  m = exs_xml_first_element(items);
  ck_assert_ptr_nonnull(ext_tag(m, "0xe23", buf, sizeof(buf)));
  uid1 = strtoul(buf, NULL, 10);
  ck_assert_ptr_nonnull(ext_tag(m, "0xe07", buf, sizeof(buf)));
  ck_assert_str_eq(buf, "0"); /* unread, sent */
  ck_assert_ptr_nonnull(ext_tag(m, "0xe08", buf, sizeof(buf)));
  ck_assert_int_gt(atoi(buf), 50);
  ck_assert_ptr_nonnull(ext_tag(m, "0x3008", buf, sizeof(buf)));
  ck_assert_int_eq((int)strlen(buf), 20); /* whole seconds, no fraction */
  ck_assert_ptr_nonnull(ext_tag(exs_xml_next(m, EC_NS_T, "Message"), "0xe23", buf, sizeof(buf)));
  uid2 = strtoul(buf, NULL, 10);
  ck_assert_uint_gt(uid1, uid2); /* descending */
  ec_free(&r);

  /* folder counters and the ctag */
  call("alice@contoso.com",
       "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
       "<t:ExtendedFieldURI PropertyTag=\"0x3602\" PropertyType=\"Integer\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0x6751\" PropertyType=\"Integer\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0x360a\" PropertyType=\"Boolean\"/>"
       "<t:ExtendedFieldURI PropertyTag=\"0x670a\" PropertyType=\"SystemTime\"/>"
       "<t:FieldURI FieldURI=\"folder:DisplayName\"/></t:AdditionalProperties></m:FolderShape>"
       "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:GetFolder>",
       200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  f = exs_xml_first_element(exs_xml_child(msgs[0], EC_NS_M, "Folders"));
  ck_assert_int_eq(atol(ext_tag(f, "0x3602", buf, sizeof(buf))),
                   emu_folder_count(emu, "alice@contoso.com", "inbox"));
  ck_assert_uint_eq(strtoul(ext_tag(f, "0x6751", buf, sizeof(buf)), NULL, 10), uid1 + 1);
  ck_assert_str_eq(ext_tag(f, "0x360a", buf, sizeof(buf)), "false");
  ck_assert_ptr_nonnull(ext_tag(f, "0x670a", buf, sizeof(buf)));
  ec_free(&r);

  /* a contact found again by the file name DavMail gave it */
  call("alice@contoso.com",
       "<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id=\"contacts\"/>"
       "</m:SavedItemFolderId><m:Items><t:Contact><t:ExtendedProperty><t:ExtendedFieldURI "
       "PropertyTag=\"0x10f3\" PropertyType=\"String\"/><t:Value>jo.EML</t:Value>"
       "</t:ExtendedProperty><t:ExtendedProperty><t:ExtendedFieldURI "
       "DistinguishedPropertySetId=\"PublicStrings\" PropertyName=\"Keywords\" "
       "PropertyType=\"StringArray\"/><t:Values><t:Value>a</t:Value><t:Value>b</t:Value>"
       "</t:Values></t:ExtendedProperty><t:DisplayName>Jo</t:DisplayName></t:Contact>"
       "</m:Items></m:CreateItem>",
       200, &r);
  ec_free(&r);
  call("alice@contoso.com",
       "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
       "<t:AdditionalProperties><t:ExtendedFieldURI DistinguishedPropertySetId=\"PublicStrings\" "
       "PropertyName=\"Keywords\" PropertyType=\"StringArray\"/></t:AdditionalProperties>"
       "</m:ItemShape><m:Restriction><t:IsEqualTo><t:ExtendedFieldURI PropertyTag=\"0x10f3\" "
       "PropertyType=\"String\"/><t:FieldURIOrConstant><t:Constant Value=\"jo.EML\"/>"
       "</t:FieldURIOrConstant></t:IsEqualTo></m:Restriction><m:ParentFolderIds>"
       "<t:DistinguishedFolderId Id=\"contacts\"/></m:ParentFolderIds></m:FindItem>",
       200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  m = exs_xml_first_element(
      exs_xml_child(exs_xml_child(msgs[0], EC_NS_M, "RootFolder"), EC_NS_T, "Items"));
  ck_assert(exs_xml_is(m, EC_NS_T, "Contact"));
  ck_assert_str_eq(
      exs_xml_text(exs_xml_path(m, EC_NS_T, "ExtendedProperty/Values/Value"), buf, sizeof(buf)),
      "a");
  ec_free(&r);

  /* the time zone item: created with a StartTimeZone, read back as iCalendar */
  call("alice@contoso.com",
       "<m:CreateItem SendMeetingInvitations=\"SendToNone\"><m:SavedItemFolderId>"
       "<t:DistinguishedFolderId Id=\"calendar\"/></m:SavedItemFolderId><m:Items>"
       "<t:CalendarItem><t:Start>2026-12-07T06:00:00</t:Start><t:End>2026-12-08T06:00:00</t:End>"
       "<t:StartTimeZone Id=\"UTC\"/></t:CalendarItem></m:Items></m:CreateItem>",
       200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  exs_xml_attr(
      exs_xml_path(exs_xml_child(msgs[0], EC_NS_M, "Items"), EC_NS_T, "CalendarItem/ItemId"), "Id",
      id, sizeof(id));
  ec_free(&r);
  snprintf(op, sizeof(op),
           "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
           "<t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape>"
           "<m:ItemIds><t:ItemId Id=\"%s\"/></m:ItemIds></m:GetItem>",
           id);
  call("alice@contoso.com", op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  {
    char *b64 = (char *)xmlNodeGetContent(exs_xml_path(exs_xml_child(msgs[0], EC_NS_M, "Items"),
                                                       EC_NS_T, "CalendarItem/MimeContent"));
    struct exs_buf ics;
    ck_assert_ptr_nonnull(b64);
    exs_buf_init(&ics, 1 << 20);
    ck_assert_int_eq(exs_base64_decode(&ics, b64, strlen(b64)), 0);
    ck_assert_msg(strncmp(ics.data, "BEGIN:VCALENDAR\r\n", 17) == 0, "%s", ics.data);
    ck_assert_ptr_nonnull(strstr(ics.data, "BEGIN:VTIMEZONE\r\nTZID:UTC\r\n"));
    ck_assert_ptr_nonnull(strstr(ics.data, "DTSTART:20261207T060000Z\r\n"));
    exs_buf_free(&ics);
    xmlFree(b64);
  }
  ec_free(&r);

  /* CopyItem: a second item with a new id; the original stays */
  snprintf(op, sizeof(op),
           "<m:CopyItem><m:ToFolderId><t:DistinguishedFolderId Id=\"drafts\"/></m:ToFolderId>"
           "<m:ItemIds><t:ItemId Id=\"%s\"/></m:ItemIds></m:CopyItem>",
           id);
  call("alice@contoso.com", op, 200, &r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 2), 1);
  ck_assert_str_eq(ec_code(msgs[0], buf, sizeof(buf)), "NoError");
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "drafts"), 1);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "calendar"), 1);
  ec_free(&r);

  /* no photos: a schema-valid ErrorItemNotFound */
  call("alice@contoso.com",
       "<m:GetUserPhoto><m:Email>alice@contoso.com</m:Email><m:SizeRequested>HR96x96"
       "</m:SizeRequested></m:GetUserPhoto>",
       200, &r);
  ck_assert_ptr_nonnull(strstr(r.body.data, "<m:ResponseCode>ErrorItemNotFound</m:ResponseCode>"));
  ec_free(&r);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_mailstore");
  TCase *tc = tcase_create("contoso");

  /* No fork per test unless asked (CK_FORK=yes): forking a sanitizer build
   * with the EWS schema loaded costs seconds per test. Every test starts its
   * own emulator in a checked fixture, so tests stay independent. */
  setenv("CK_FORK", "no", 0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ec_load_schema();
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, finditem_pages_until_the_last_item);
  tcase_add_loop_test(tc, finditem_restrictions, 0, sizeof(restrictions) / sizeof(restrictions[0]));
  tcase_add_test(tc, getitem_returns_mime_and_extended_properties);
  tcase_add_test(tc, createitem_send_delivers_between_mailboxes);
  tcase_add_loop_test(tc, deleteitem_kinds, 0, 3);
  tcase_add_test(tc, org_identity_is_written_and_read_back);
  tcase_add_loop_test(tc, impersonation_rights, 0, sizeof(imp_cases) / sizeof(imp_cases[0]));
  tcase_add_loop_test(tc, delegate_access_by_mailbox_element, 0,
                      sizeof(delegate_cases) / sizeof(delegate_cases[0]));
  tcase_add_test(tc, access_denied_folder);
  tcase_add_test(tc, sync_folder_hierarchy_initial_then_incremental);
  tcase_add_test(tc, findfolder_and_createfolder_conflict);
  tcase_add_test(tc, resolve_names);
  tcase_add_test(tc, sync_folder_items_creates_updates_deletes);
  tcase_add_test(tc, many_items_lookups_after_deletes);
  tcase_add_test(tc, convert_id_round_trip_names_the_owner);
  tcase_add_test(tc, delete_folder);
  tcase_add_test(tc, calendar_view);
  tcase_add_test(tc, owa_user_options);
  tcase_add_test(tc, createitem_from_mime);
  tcase_add_test(tc, davmail_mapi_properties);
  tcase_add_loop_test(tc, calendar_contact_task_round_trip, 0, sizeof(typed) / sizeof(typed[0]));
  tcase_add_loop_test(tc, contoso_failure_classes, 0, sizeof(classes) / sizeof(classes[0]));
  suite_add_tcase(s, tc);
  {
    int rc = tu_run(s);
    exs_schema_free(ec_ews_schema);
    curl_global_cleanup();
    return rc;
  }
}

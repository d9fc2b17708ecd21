/* test_emu_server.c - the emulator's thin path: listeners on port 0, Basic
 * authentication, GetFolder batches, ServerVersionInfo, scenario loading and
 * the journal. Every EWS answer is validated against the official schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emu_client.h"

static struct emu *emu;
static char url[256], base[256];

static void setup(void)
{
  char err[512], bound[64];
  int port;

  emu = emu_new();
  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(emu_load_scenario(emu, tu_path("fixtures/scenarios/thin.xml"), err, sizeof(err)) ==
                    0,
                "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ec_strict(emu);
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
  snprintf(url, sizeof(url), "%s/EWS/Exchange.asmx", base);
}

static void teardown(void)
{
  emu_free(emu);
  emu = NULL;
}

static const char *all_folders =
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
    "<t:FieldURI FieldURI=\"folder:DisplayName\"/><t:FieldURI FieldURI=\"folder:TotalCount\"/>"
    "<t:FieldURI FieldURI=\"folder:UnreadCount\"/><t:FieldURI FieldURI=\"folder:FolderClass\"/>"
    "</t:AdditionalProperties></m:FolderShape><m:FolderIds>"
    "<t:DistinguishedFolderId Id=\"msgfolderroot\"/><t:DistinguishedFolderId Id=\"inbox\"/>"
    "<t:FolderId Id=\"AAMkZXhzeW5jOkY6MDAwMDAwMDAwMDAwZmZmZg==\"/>"
    "<t:DistinguishedFolderId Id=\"sentitems\"/><t:DistinguishedFolderId Id=\"drafts\"/>"
    "<t:DistinguishedFolderId Id=\"outbox\"/><t:DistinguishedFolderId Id=\"deleteditems\"/>"
    "<t:DistinguishedFolderId Id=\"calendar\"/><t:DistinguishedFolderId Id=\"contacts\"/>"
    "<t:DistinguishedFolderId Id=\"tasks\"/><t:DistinguishedFolderId Id=\"junkemail\"/>"
    "</m:FolderIds></m:GetFolder>";

START_TEST(getfolder_batch_answers_in_order)
{
  static const struct {
    const char *code, *elem, *name;
  } want[] = {
      {"NoError", "Folder", "Top of Information Store"},
      {"NoError", "Folder", "Inbox"},
      {"ErrorFolderNotFound", NULL, NULL},
      {"NoError", "Folder", "Sent Items"},
      {"NoError", "Folder", "Drafts"},
      {"NoError", "Folder", "Outbox"},
      {"NoError", "Folder", "Deleted Items"},
      {"NoError", "CalendarFolder", "Calendar"},
      {"NoError", "ContactsFolder", "Contacts"},
      {"NoError", "TasksFolder", "Tasks"},
      {"NoError", "Folder", "Junk Email"},
  };
  struct ec_resp r;
  xmlNodePtr msgs[16];
  char buf[256];
  size_t n;

  ec_post(url, "alice:alice-pw", ec_soap("Exchange2013_SP1", NULL, all_folders), &r);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  n = ec_messages(&r, msgs, 16);
  ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
  for(size_t i = 0; i < n; i++) {
    ck_assert_str_eq(ec_code(msgs[i], buf, sizeof(buf)), want[i].code);
    if(want[i].elem) {
      xmlNodePtr f = exs_xml_first_element(exs_xml_child(msgs[i], EC_NS_M, "Folders"));
      ck_assert(exs_xml_is(f, EC_NS_T, want[i].elem));
      ck_assert_str_eq(exs_xml_text(exs_xml_child(f, EC_NS_T, "DisplayName"), buf, sizeof(buf)),
                       want[i].name);
      ck_assert_ptr_nonnull(exs_xml_child(f, EC_NS_T, "FolderId"));
    }
  }
  ec_free(&r);
}
END_TEST

/* One request per user-name form the product accepts. */
static const char *user_forms[] = {"alice:alice-pw", "CONTOSO\\alice:alice-pw",
                                   "alice@contoso.com:alice-pw"};

START_TEST(basic_accepts_each_user_form)
{
  struct ec_resp r;

  ec_post(url, user_forms[_i],
          ec_soap("Exchange2016", NULL,
                  "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>"
                  "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds>"
                  "</m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  ec_free(&r);
}
END_TEST

static const char *bad_creds[] = {NULL, "alice:wrong", "nobody:alice-pw", "CONTOSO\\alice:", ":"};

START_TEST(bad_credentials_get_401_with_challenges)
{
  struct ec_resp r;

  ec_post(url, bad_creds[_i], ec_soap("Exchange2016", NULL, "<m:GetFolder/>"), &r);
  ck_assert_int_eq(r.status, 401);
  ck_assert_ptr_nonnull(strstr(r.headers.data, "WWW-Authenticate: Basic realm=\"127.0.0.1\""));
  ck_assert_ptr_nonnull(strstr(r.headers.data, "WWW-Authenticate: NTLM"));
  ck_assert_ptr_nonnull(strstr(r.headers.data, "WWW-Authenticate: Negotiate"));
  ec_free(&r);
}
END_TEST

START_TEST(garbage_authorization_is_401_not_a_crash)
{
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  long status = 0;
  static const char *headers[] = {
      "Authorization: Basic !!!!",
      "Authorization: Basic",
      "Authorization: Basic YWxpY2U=",
      "Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
      "Authorization: Negotiate YIIB",
      "Authorization: Bearer x",
  };

  h = curl_slist_append(h, headers[_i]);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, "<x/>");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ec_write);
  {
    struct exs_buf sink;
    exs_buf_init(&sink, 1 << 16);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    exs_buf_free(&sink);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  ck_assert_int_eq(status, 401);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}
END_TEST

START_TEST(ews_path_is_case_insensitive)
{
  static const char *paths[] = {"/EWS/Exchange.asmx", "/ews/exchange.asmx", "/EWS/EXCHANGE.ASMX"};
  char u[300];

  for(size_t i = 0; i < 3; i++) {
    struct ec_resp r;
    snprintf(u, sizeof(u), "%s%s", base, paths[i]);
    ec_post(u, "alice:alice-pw",
            ec_soap(NULL, NULL,
                    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                    "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                    "</m:FolderIds></m:GetFolder>"),
            &r);
    ck_assert_int_eq(r.status, 200);
    ec_validate(&r);
    ec_free(&r);
  }
  {
    struct ec_resp r;
    snprintf(u, sizeof(u), "%s/EWS/Other.asmx", base);
    ec_post(u, "alice:alice-pw", "<x/>", &r);
    ck_assert_int_eq(r.status, 404);
    ec_free(&r);
  }
}
END_TEST

START_TEST(unknown_server_version_is_a_fault)
{
  struct ec_resp r;
  char code[64];

  ec_post(url, "alice:alice-pw",
          ec_soap("Exchange2099", NULL,
                  "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
                  "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds>"
                  "</m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, 500);
  ec_validate(&r);
  ck_assert_str_eq(ec_fault(&r, code, sizeof(code)), "ErrorInvalidServerVersion");
  ec_free(&r);
}
END_TEST

START_TEST(delegate_without_rights_is_access_denied)
{
  struct ec_resp r;
  xmlNodePtr msgs[4];
  char buf[64], err[256];

  ck_assert_int_eq(emu_add_user(emu, "bob", "bob-pw", "contoso.com", err, sizeof(err)), 0);
  ec_post(url, "bob:bob-pw",
          ec_soap("Exchange2016", NULL,
                  "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>"
                  "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"><t:Mailbox>"
                  "<t:EmailAddress>alice@contoso.com</t:EmailAddress></t:Mailbox>"
                  "</t:DistinguishedFolderId><t:DistinguishedFolderId Id=\"inbox\"/>"
                  "</m:FolderIds></m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  ck_assert_uint_eq(ec_messages(&r, msgs, 4), 2);
  ck_assert_str_eq(ec_code(msgs[0], buf, sizeof(buf)), "ErrorAccessDenied");
  ck_assert_str_eq(ec_code(msgs[1], buf, sizeof(buf)), "NoError");
  ec_free(&r);
}
END_TEST

START_TEST(journal_records_requests)
{
  struct ec_resp r;
  struct emu_journal_entry e[8];
  struct timespec t0, t1;
  size_t n;

  emu_journal_clear(emu);
  clock_gettime(CLOCK_REALTIME, &t0);
  ec_post(url, "alice:alice-pw", ec_soap("Exchange2016", NULL, all_folders), &r);
  ec_free(&r);
  ec_post(url, "alice:nope", ec_soap("Exchange2016", NULL, all_folders), &r);
  ec_free(&r);
  clock_gettime(CLOCK_REALTIME, &t1);
  ck_assert_uint_eq(emu_journal_count(emu), 2);
  n = emu_journal_get(emu, 0, e, 8);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(e[0].operation, "GetFolder");
  ck_assert_str_eq(e[0].auth_user, "alice");
  ck_assert_str_eq(e[0].mailbox, "alice@contoso.com");
  ck_assert_str_eq(e[0].response_code, "ErrorFolderNotFound");
  ck_assert_str_eq(e[0].method, "POST");
  ck_assert_str_eq(e[0].host, "127.0.0.1");
  ck_assert_int_eq(e[0].status, 200);
  ck_assert_int_eq(e[0].in_flight, 1);
  ck_assert_int_eq(e[1].status, 401);
  ck_assert_str_eq(e[1].auth_user, "");
  ck_assert(e[1].seq > e[0].seq);
  /* times in milliseconds, not whole seconds */
  ck_assert_int_ge(e[0].time_ms, (int64_t)t0.tv_sec * 1000 + t0.tv_nsec / 1000000);
  ck_assert_int_le(e[1].time_ms, (int64_t)t1.tv_sec * 1000 + t1.tv_nsec / 1000000);
  ck_assert_int_ge(e[1].time_ms, e[0].time_ms);
  ck_assert_int_eq(emu_journal_max_in_flight(emu, "alice"), 1);
}
END_TEST

/* Scenario files with mistakes: each error names the file and the line. */
static const struct {
  const char *xml;
  const char *needle;
} bad_scenarios[] = {
    {"<scenario xmlns=\"urn:exsync:scenario:1\">\n<user login=\"a\"/>\n</scenario>\n", ":2: "},
    {"<scenario xmlns=\"urn:exsync:scenario:1\">\n\n<bogus/>\n</scenario>\n", ":3: "},
    {"<scenario xmlns=\"urn:exsync:scenario:1\">\n<mailbox address=\"a@b.c\">\n"
     "<message folder=\"nowhere\"/>\n</mailbox>\n</scenario>\n",
     ":3: message"},
    {"<scenario xmlns=\"urn:exsync:scenario:1\">\n<fault spec=\"ews-code=X times=-1\"/>\n"
     "</scenario>\n",
     ":2: fault"},
    {"<scenario xmlns=\"urn:exsync:scenario:1\"><unclosed>\n", ":"},
};

START_TEST(scenario_errors_name_file_and_line)
{
  char path[] = "/tmp/exsync-scenario-XXXXXX";
  char err[1024];
  int fd = mkstemp(path);
  struct emu *e2 = emu_new();

  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, bad_scenarios[_i].xml, strlen(bad_scenarios[_i].xml)),
                   (ssize_t)strlen(bad_scenarios[_i].xml));
  close(fd);
  ck_assert_int_eq(emu_load_scenario(e2, path, err, sizeof(err)), -1);
  unlink(path);
  ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "error does not name the file: %s", err);
  ck_assert_msg(strstr(err + strlen(path), bad_scenarios[_i].needle) != NULL, "got: %s", err);
  emu_free(e2);
}
END_TEST

START_TEST(add_user_makes_a_working_mailbox)
{
  struct emu *e2 = emu_new();
  char err[256], bound[64], u[128];
  struct ec_resp r;
  int port;

  ck_assert_int_eq(emu_add_user(e2, "zoe", "pw:with:colons", "example.com", err, sizeof(err)), 0);
  ck_assert_int_eq(emu_add_user(e2, "bad@login", "x", "example.com", err, sizeof(err)), -1);
  port = emu_listen(e2, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_int_gt(port, 0);
  ck_assert_int_eq(emu_start(e2, err, sizeof(err)), 0);
  snprintf(u, sizeof(u), "http://%s/EWS/Exchange.asmx", bound);
  ec_post(u, "zoe@example.com:pw:with:colons",
          ec_soap("Exchange2016", NULL,
                  "<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape>"
                  "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                  "</m:FolderIds></m:GetFolder>"),
          &r);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  ec_free(&r);
  ck_assert_int_eq(emu_folder_count(e2, "zoe@example.com", "inbox"), 0);
  ck_assert_int_eq(emu_folder_count(e2, "zoe@example.com", "nope"), -1);
  emu_free(e2);
}
END_TEST

START_TEST(tls_without_certificate_generates_a_ca)
{
  char err[256] = "", bound[64], path[] = "/tmp/exsync-ca-XXXXXX";
  char *pem;

  ck_assert_msg(emu_listen(emu, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err)) > 0,
                "%s", err);
  close(mkstemp(path));
  ck_assert_msg(emu_write_ca(emu, path, err, sizeof(err)) == 0, "%s", err);
  pem = tu_read_file(path, NULL);
  ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN CERTIFICATE-----"));
  ck_assert_ptr_null(strstr(pem, "PRIVATE KEY")); /* the CA's key never leaves */
  free(pem);
  unlink(path);
  ck_assert_int_eq(emu_write_ca(emu, "/nonexistent/dir/ca.pem", err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/ca.pem"));
}
END_TEST

START_TEST(schema_invalid_requests_get_schema_validation_faults)
{
  static const char *bad[] = {
      /* FolderIds before FolderShape */
      "<m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds>"
      "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape></m:GetFolder>",
      /* unknown distinguished folder */
      "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
      "<m:FolderIds><t:DistinguishedFolderId Id=\"nope\"/></m:FolderIds></m:GetFolder>",
      /* MaxChangesReturned out of range */
      "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
      "<m:SyncFolderId><t:DistinguishedFolderId Id=\"inbox\"/></m:SyncFolderId>"
      "<m:MaxChangesReturned>513</m:MaxChangesReturned></m:SyncFolderItems>",
  };
  char code[64];

  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct ec_resp r;
    ec_post(url, "alice:alice-pw", ec_soap("Exchange2016", NULL, bad[i]), &r);
    ck_assert_int_eq(r.status, 500);
    ec_validate(&r);
    ck_assert_str_eq(ec_fault(&r, code, sizeof(code)), "ErrorSchemaValidation");
    ec_free(&r);
  }
}
END_TEST

START_TEST(wsdl_is_served)
{
  struct ec_resp r;
  char u[300];

  snprintf(u, sizeof(u), "%s/EWS/Services.wsdl", base);
  ck_assert_int_eq(ec_request("GET", u, NULL, NULL, NULL, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 401);
  ec_free(&r);
  ck_assert_int_eq(ec_request("GET", u, "alice:alice-pw", NULL, NULL, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_nonnull(strstr(r.body.data, "wsdl:definitions"));
  ec_free(&r);
  snprintf(u, sizeof(u), "%s/ews/types.xsd", base);
  ck_assert_int_eq(ec_request("GET", u, "alice:alice-pw", NULL, NULL, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_nonnull(strstr(r.body.data, "ExchangeVersionType"));
  ec_free(&r);
}
END_TEST

START_TEST(stop_and_free_are_prompt_and_idempotent)
{
  emu_stop(emu);
  emu_stop(emu);
  emu_free(NULL);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_server");
  TCase *tc = tcase_create("thin");

  /* No fork per test unless asked (CK_FORK=yes): forking a sanitizer build
   * with the EWS schema loaded costs seconds per test. Every test starts its
   * own emulator in a checked fixture, so tests stay independent. */
  setenv("CK_FORK", "no", 0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ec_load_schema();
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, getfolder_batch_answers_in_order);
  tcase_add_loop_test(tc, basic_accepts_each_user_form, 0,
                      sizeof(user_forms) / sizeof(user_forms[0]));
  tcase_add_loop_test(tc, bad_credentials_get_401_with_challenges, 0,
                      sizeof(bad_creds) / sizeof(bad_creds[0]));
  tcase_add_loop_test(tc, garbage_authorization_is_401_not_a_crash, 0, 6);
  tcase_add_test(tc, ews_path_is_case_insensitive);
  tcase_add_test(tc, unknown_server_version_is_a_fault);
  tcase_add_test(tc, delegate_without_rights_is_access_denied);
  tcase_add_test(tc, journal_records_requests);
  tcase_add_loop_test(tc, scenario_errors_name_file_and_line, 0,
                      sizeof(bad_scenarios) / sizeof(bad_scenarios[0]));
  tcase_add_test(tc, add_user_makes_a_working_mailbox);
  tcase_add_test(tc, tls_without_certificate_generates_a_ca);
  tcase_add_test(tc, schema_invalid_requests_get_schema_validation_faults);
  tcase_add_test(tc, wsdl_is_served);
  tcase_add_test(tc, stop_and_free_are_prompt_and_idempotent);
  suite_add_tcase(s, tc);
  {
    int rc = tu_run(s);
    exs_schema_free(ec_ews_schema);
    curl_global_cleanup();
    return rc;
  }
}

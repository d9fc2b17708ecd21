/* test_ews_emu.c - the EWS client (core/ews*.c over core/http.c) against the
 * in-process emulator over plain HTTP on port 0: the Test & Enable flows
 * (identity on msgfolderroot, send-to-self with a marker and hard delete,
 * Undeliverable folder), paging, and the error categories the client maps
 * (401, impersonation denied, unknown mailbox, throttling with retry). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync/ews.h"
#include "exsync/http.h"
#include "testutil.h"

static struct emu *emu;
static char url[128];
static char scenario[64];

#define SCENARIO                                                                                   \
  "<scenario xmlns='urn:exsync:scenario:1' name='ews'>"                                            \
  "<user login='svc' password='svc-pw' domain='CONTOSO' impersonate-all='yes'/>"                   \
  "<user login='alice' password='alice-pw' domain='CONTOSO' mailbox='alice@contoso.com'/>"         \
  "<mailbox address='alice@contoso.com' display-name='Alice' owner='alice'/>"                      \
  "<user login='bob' password='bob-pw' domain='CONTOSO' mailbox='bob@contoso.com'/>"               \
  "<mailbox address='bob@contoso.com' display-name='Bob' owner='bob'/>"                            \
  "</scenario>\n"

static void setup(void)
{
  char err[512], bound[64];
  FILE *f;
  int port;

  snprintf(scenario, sizeof(scenario), "/tmp/exsync-ews-emu-%ld.xml", (long)getpid());
  f = fopen(scenario, "w");
  ck_assert_ptr_nonnull(f);
  fputs(SCENARIO, f);
  fclose(f);
  emu = emu_new();
  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(emu_load_scenario(emu, scenario, err, sizeof(err)) == 0, "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", port);
}

static void teardown(void)
{
  emu_free(emu);
  emu = NULL;
  unlink(scenario);
}

struct client {
  struct exs_http *http;
  struct exs_ews *ews;
};

/* A client logged in as user (password pw) impersonating imp (NULL: none). */
static void client_open(struct client *c, const char *user, const char *pw, const char *imp)
{
  struct exs_http_options ho;
  struct exs_ews_options eo;

  exs_http_options_init(&ho, NULL);
  exs_http_options_set_credentials(&ho, user, pw);
  ho.auth = EXS_AUTH_BASIC;
  ho.allow_non_ssl = ho.allow_credentials_non_secure = ho.allow_basic_non_secure = true;
  ho.timeout_ms = 20000;
  c->http = exs_http_new(&ho);
  ck_assert_ptr_nonnull(c->http);
  memset(&eo, 0, sizeof(eo));
  eo.url = url;
  eo.ctx.impersonate = imp;
  eo.max_throttle_wait_ms = 2000;
  c->ews = exs_ews_new(c->http, &eo);
  ck_assert_ptr_nonnull(c->ews);
}

static void client_close(struct client *c)
{
  exs_ews_free(c->ews);
  exs_http_free(c->http);
}

static const struct exs_ews_folder_ref root = {"msgfolderroot", NULL, NULL};
static const struct exs_ews_folder_ref inbox = {"inbox", NULL, NULL};
static const struct exs_ews_extprop marker = {"PublicStrings", "exsync.TestMarker", NULL, "String"};

START_TEST(identity_roundtrip)
{
  struct client c;
  struct exs_ews_folder f;
  struct exs_error err;
  struct exs_ews_extprop props[] = {exs_ews_prop_org_id, exs_ews_prop_last_sync};
  struct exs_ews_extprop_set sets[] = {
      {exs_ews_prop_org_id, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10"},
      {exs_ews_prop_last_sync, "2026-01-01T00:00:00Z"},
  };
  const struct exs_ews_extvalue *v;
  char out[128];

  client_open(&c, "svc", "svc-pw", "alice@contoso.com");
  exs_error_clear(&err);
  ck_assert_msg(exs_ews_get_folder_ext(c.ews, &root, 1, props, 2, &f, &err) == 0, "%s",
                err.message);
  ck_assert(f.ok);
  ck_assert_ptr_null(exs_ews_extvalue_find(f.ext, f.n_ext, &exs_ews_prop_org_id));
  ck_assert_msg(exs_ews_update_folder(c.ews, &root, NULL, sets, 2, &f, &err) == 0, "%s",
                err.message);
  ck_assert(f.ok);
  ck_assert_int_eq(emu_get_folder_property(emu, "alice@contoso.com", "msgfolderroot",
                                           "exsync.OrgId", out, sizeof(out)),
                   0);
  ck_assert_str_eq(out, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  ck_assert_int_eq(exs_ews_get_folder_ext(c.ews, &root, 1, props, 2, &f, &err), 0);
  v = exs_ews_extvalue_find(f.ext, f.n_ext, &exs_ews_prop_org_id);
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->value, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  v = exs_ews_extvalue_find(f.ext, f.n_ext, &exs_ews_prop_last_sync);
  ck_assert_ptr_nonnull(v);
  ck_assert_int_eq(strncmp(v->value, "2026-01-01T00:00:00", 19), 0);
  client_close(&c);
}
END_TEST

START_TEST(send_to_self_find_and_hard_delete)
{
  struct client c;
  struct exs_error err;
  struct exs_ews_extprop_set ext[] = {{marker, "marker-42"}};
  const char *to[] = {"alice@contoso.com"};
  struct exs_ews_new_item it;
  struct exs_ews_create_item_req creq = {"SendOnly", NULL, &it, 1};
  struct exs_ews_item_result r;
  struct exs_ews_restriction rs[] = {{EXS_EWS_IS_EQUAL_TO, NULL, &marker, "marker-42"}};
  static const char *const fields[] = {"item:Subject", "item:DateTimeReceived"};
  struct exs_ews_find_item_req freq = {
      inbox, fields, 2, &marker, 1, 10, 0, rs, 1, "item:DateTimeReceived", true};
  struct exs_ews_item_page page;
  const char *ids[1];
  static const char *const gfields[] = {"item:Subject", "item:Body", "message:From",
                                        "message:ToRecipients", "message:InternetMessageId"};
  struct exs_ews_get_item_req greq = {ids, 1, true, "Text", gfields, 5, &marker, 1};
  struct exs_ews_item got;
  char idbuf[EXS_EWS_ID_MAX];

  memset(&it, 0, sizeof(it));
  it.kind = EXS_EWS_ITEM_MESSAGE;
  it.subject = "exsync test message";
  it.body = "checking outgoing <&> delivery";
  it.to = to;
  it.n_to = 1;
  it.ext = ext;
  it.n_ext = 1;
  client_open(&c, "svc", "svc-pw", "alice@contoso.com");
  exs_error_clear(&err);
  ck_assert_msg(exs_ews_create_item(c.ews, &creq, &r, &err) == 0, "%s", err.message);
  ck_assert_msg(r.ok, "%s", r.err.message);
  ck_assert_str_eq(r.id, ""); /* SendOnly returns no id */
  ck_assert_msg(exs_ews_find_item(c.ews, &freq, &page, &err) == 0, "%s", err.message);
  ck_assert_uint_eq(page.n, 1);
  ck_assert(page.includes_last);
  ck_assert_str_eq(page.items[0].subject, "exsync test message");
  snprintf(idbuf, sizeof(idbuf), "%s", page.items[0].id);
  exs_ews_item_page_free(&page);
  ids[0] = idbuf;
  ck_assert_msg(exs_ews_get_item(c.ews, &greq, &got, &err) == 0, "%s", err.message);
  ck_assert_msg(got.ok, "%s", got.err.message);
  ck_assert_str_eq(got.subject, "exsync test message");
  ck_assert_ptr_nonnull(got.body);
  ck_assert_ptr_nonnull(strstr(got.body, "<&>"));
  ck_assert_str_eq(got.from.email, "alice@contoso.com");
  ck_assert_uint_ge(got.n_to, 1);
  ck_assert_ptr_nonnull(exs_ews_extvalue_find(got.ext, got.n_ext, &marker));
  exs_ews_item_clear(&got);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "inbox"), 1);
  ck_assert_int_eq(exs_ews_delete_item(c.ews, "HardDelete", ids, 1, &r, &err), 0);
  ck_assert(r.ok);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "inbox"), 0);
  ck_assert_int_eq(emu_folder_count(emu, "alice@contoso.com", "deleteditems"), 0);
  client_close(&c);
}
END_TEST

START_TEST(undeliverable_folder_and_move)
{
  struct client c;
  struct exs_error err;
  struct exs_ews_folder f, f2;
  struct exs_ews_find_folder_req freq = {inbox, "Undeliverable", 0, 0};
  struct exs_ews_folder_page page;
  struct exs_ews_folder_ref undeliv = {NULL, NULL, NULL};
  struct exs_ews_find_item_req ireq = {inbox, NULL, 0, NULL, 0, 10, 0, NULL, 0, NULL, false};
  struct exs_ews_item_page items;
  struct exs_ews_item_result r;
  const char *ids[1];
  char err_text[256];

  ck_assert_int_eq(emu_deliver_message(emu, "x@fabrikam.com", "bob@contoso.com", "lost", "body",
                                       err_text, sizeof(err_text)),
                   0);
  client_open(&c, "bob", "bob-pw", NULL);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_find_folder(c.ews, &freq, &page, &err), 0);
  ck_assert_uint_eq(page.n, 0);
  exs_ews_folder_page_free(&page);
  ck_assert_msg(exs_ews_create_folder(c.ews, &inbox, "Undeliverable", NULL, &f, &err) == 0, "%s",
                err.message);
  ck_assert_str_ne(f.id, "");
  ck_assert_int_eq(exs_ews_create_folder(c.ews, &inbox, "Undeliverable", NULL, &f2, &err), -1);
  ck_assert_str_eq(err.ews_code, "ErrorFolderExists");
  ck_assert_int_eq(exs_ews_find_folder(c.ews, &freq, &page, &err), 0);
  ck_assert_uint_eq(page.n, 1);
  ck_assert_str_eq(page.folders[0].id, f.id);
  ck_assert_str_eq(page.folders[0].display_name, "Undeliverable");
  exs_ews_folder_page_free(&page);
  ck_assert_int_eq(exs_ews_find_item(c.ews, &ireq, &items, &err), 0);
  ck_assert_uint_eq(items.n, 1);
  ids[0] = items.items[0].id;
  undeliv.id = f.id;
  ck_assert_int_eq(exs_ews_move_item(c.ews, &undeliv, ids, 1, &r, &err), 0);
  ck_assert_msg(r.ok, "%s", r.err.message);
  ck_assert_str_ne(r.id, "");
  exs_ews_item_page_free(&items);
  ck_assert_int_eq(emu_folder_count(emu, "bob@contoso.com", "inbox"), 0);
  client_close(&c);
}
END_TEST

START_TEST(find_item_paging)
{
  struct client c;
  struct exs_error err;
  static const char *const fields[] = {"item:Subject"};
  struct exs_ews_find_item_req req = {
      inbox, fields, 1, NULL, 0, 2, 0, NULL, 0, "item:DateTimeReceived", false};
  struct exs_ews_item_page page;
  char e[256], subj[32];
  int i, seen = 0, pages = 0;

  for(i = 0; i < 5; i++) {
    snprintf(subj, sizeof(subj), "msg %d", i);
    ck_assert_int_eq(emu_deliver_message(emu, NULL, "bob@contoso.com", subj, "b", e, sizeof(e)), 0);
  }
  client_open(&c, "svc", "svc-pw", "bob@contoso.com");
  for(;;) {
    exs_error_clear(&err);
    ck_assert_msg(exs_ews_find_item(c.ews, &req, &page, &err) == 0, "%s", err.message);
    seen += (int)page.n;
    pages++;
    if(page.includes_last || page.n == 0) {
      exs_ews_item_page_free(&page);
      break;
    }
    ck_assert_int_gt(page.next_offset, req.offset);
    req.offset = (int)page.next_offset;
    exs_ews_item_page_free(&page);
    ck_assert_int_lt(pages, 10);
  }
  ck_assert_int_eq(seen, 5);
  ck_assert_int_eq(pages, 3);
  client_close(&c);
}
END_TEST

START_TEST(resolve_and_hierarchy)
{
  struct client c;
  struct exs_error err;
  struct exs_ews_resolve res;
  struct exs_ews_folder_sync sync;
  size_t i;
  bool inbox_seen = false;

  client_open(&c, "svc", "svc-pw", "alice@contoso.com");
  exs_error_clear(&err);
  ck_assert_msg(exs_ews_resolve_names(c.ews, "alice@contoso.com", &res, &err) == 0, "%s",
                err.message);
  ck_assert_uint_ge(res.n, 1);
  ck_assert_str_eq(res.r[0].mailbox.email, "alice@contoso.com");
  ck_assert_int_eq(exs_ews_resolve_names(c.ews, "nobody@contoso.com", &res, &err), -1);
  ck_assert_str_eq(err.ews_code, "ErrorNameResolutionNoResults");
  exs_error_clear(&err);
  ck_assert_msg(exs_ews_sync_folder_hierarchy(c.ews, NULL, NULL, &sync, &err) == 0, "%s",
                err.message);
  ck_assert_str_ne(sync.sync_state, "");
  for(i = 0; i < sync.n; i++)
    if(!strcmp(sync.changes[i].folder.display_name, "Inbox"))
      inbox_seen = sync.changes[i].kind == EXS_EWS_CHANGE_CREATE;
  ck_assert(inbox_seen);
  exs_ews_folder_sync_free(&sync);
  client_close(&c);
}
END_TEST

static const struct {
  const char *user, *pw, *imp;
  const char *fault;
  enum exs_category cat;
  bool transient;
  const char *code;
  long status;
} failures[] = {
    {"svc", "wrong", "alice@contoso.com", NULL, EXS_CAT_CREDENTIALS, false, "", 401},
    {"bob", "bob-pw", "alice@contoso.com", NULL, EXS_CAT_IMPERSONATION, false,
     "ErrorImpersonateUserDenied", 500},
    {"svc", "svc-pw", "ghost@contoso.com", NULL, EXS_CAT_MAILBOX_NOT_FOUND, false,
     "ErrorNonExistentMailbox", 500},
    {"svc", "svc-pw", "alice@contoso.com",
     "operation=GetFolder ews-code=ErrorServerBusy backoff-ms=30", EXS_CAT_THROTTLED, true,
     "ErrorServerBusy", 500},
    {"svc", "svc-pw", "alice@contoso.com", "operation=GetFolder http-status=503", EXS_CAT_THROTTLED,
     true, "", 503},
};

START_TEST(error_categories)
{
  struct client c;
  struct exs_error err;
  struct exs_ews_folder f;
  char e[256];

  if(failures[_i].fault)
    ck_assert_msg(emu_add_fault(emu, failures[_i].fault, e, sizeof(e)) > 0, "%s", e);
  client_open(&c, failures[_i].user, failures[_i].pw, failures[_i].imp);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_ews_get_folder(c.ews, &inbox, 1, &f, &err), -1);
  ck_assert_msg(err.category == failures[_i].cat, "case %d: %s: %s", _i,
                exs_category_name(err.category), err.message);
  ck_assert_int_eq(err.transient, failures[_i].transient);
  ck_assert_str_eq(err.ews_code, failures[_i].code);
  ck_assert_int_eq(err.http_status, failures[_i].status);
  ck_assert_str_eq(err.url, url);
  ck_assert_str_ne(err.hint, "");
  ck_assert_ptr_null(strstr(err.message, "wrong"));
  client_close(&c);
}
END_TEST

START_TEST(throttled_once_then_ok)
{
  struct client c;
  struct exs_error err;
  struct exs_ews_folder f;
  char e[256];

  ck_assert_int_gt(emu_add_fault(emu,
                                 "operation=GetFolder ews-code=ErrorServerBusy "
                                 "backoff-ms=20 times=1",
                                 e, sizeof(e)),
                   0);
  client_open(&c, "svc", "svc-pw", "alice@contoso.com");
  exs_error_clear(&err);
  ck_assert_msg(exs_ews_get_folder(c.ews, &inbox, 1, &f, &err) == 0, "%s", err.message);
  ck_assert(f.ok);
  ck_assert_str_eq(f.display_name, "Inbox");
  ck_assert_uint_eq(emu_journal_count(emu), 2);
  client_close(&c);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("ews_emu");
  TCase *tc = tcase_create("emulator");

  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, identity_roundtrip);
  tcase_add_test(tc, send_to_self_find_and_hard_delete);
  tcase_add_test(tc, undeliverable_folder_and_move);
  tcase_add_test(tc, find_item_paging);
  tcase_add_test(tc, resolve_and_hierarchy);
  tcase_add_loop_test(tc, error_categories, 0, sizeof(failures) / sizeof(failures[0]));
  tcase_add_test(tc, throttled_once_then_ok);
  suite_add_tcase(s, tc);
  return tu_run(s);
}

/* test_emu_faults.c - fault injection (one text form for the API, scenario
 * files and the admin API), the contoso failure mailboxes, in-flight
 * accounting and the admin API. Faults run in a loop over a fault list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_client.h"
#include "exsync/clock.h"

static struct emu *emu;
static char url[256], base[256];

#define SVC "CONTOSO\\svc-crm:svc-pw"

static const char *getfolder =
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:GetFolder>";
static const char *finditem =
    "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
    "</m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
    "</m:ParentFolderIds></m:FindItem>";

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
  snprintf(base, sizeof(base), "http://%s", bound);
  snprintf(url, sizeof(url), "%s/EWS/Exchange.asmx", base);
}

static void teardown(void)
{
  emu_free(emu);
  emu = NULL;
}

static const char *backoff_of(struct ec_resp *r, char *buf, size_t len)
{
  xmlNodePtr env = xmlDocGetRootElement(r->doc);
  xmlNodePtr v = exs_xml_path(env, EC_NS_SOAP, "Body/Fault");

  buf[0] = '\0';
  v = v ? exs_xml_child(v, NULL, "detail") : NULL;
  v = v ? exs_xml_path(v, EC_NS_T, "MessageXml/Value") : NULL;
  return v ? exs_xml_text(v, buf, len) : buf;
}

/* What a request under each fault must look like. */
static const struct {
  const char *spec;
  const char *who; /* impersonated mailbox */
  const char *op;
  CURLcode curl; /* transport result */
  long status;
  const char *fault;   /* EWS fault code, "" none, NULL: body not XML */
  const char *backoff; /* BackOffMilliseconds, "" none */
} cases[] = {
    {"operation=GetFolder mailbox=bob@contoso.com ews-code=ErrorServerBusy backoff-ms=50",
     "bob@contoso.com", NULL, CURLE_OK, 500, "ErrorServerBusy", "50"},
    {"ews-code=ErrorMailboxMoveInProgress", "bob@contoso.com", NULL, CURLE_OK, 500,
     "ErrorMailboxMoveInProgress", ""},
    {"operation=FindItem ews-code=ErrorServerBusy", "bob@contoso.com", NULL, CURLE_OK, 200, "", ""},
    {"mailbox=carol@contoso.com ews-code=ErrorServerBusy", "bob@contoso.com", NULL, CURLE_OK, 200,
     "", ""},
    {"user=alice ews-code=ErrorServerBusy", "bob@contoso.com", NULL, CURLE_OK, 200, "", ""},
    {"user=svc-crm http-status=503", "bob@contoso.com", NULL, CURLE_OK, 503, NULL, ""},
    {"host=127.0.0.1 http-status=502", "bob@contoso.com", NULL, CURLE_OK, 502, NULL, ""},
    {"host=mail.contoso.com http-status=502", "bob@contoso.com", NULL, CURLE_OK, 200, "", ""},
    {"reset", "bob@contoso.com", NULL, CURLE_GOT_NOTHING, 0, NULL, ""},
    {"truncated", "bob@contoso.com", NULL, CURLE_PARTIAL_FILE, 200, NULL, ""},
    {"cut-after=100", "bob@contoso.com", NULL, CURLE_PARTIAL_FILE, 200, NULL, ""},
    {"cut-after=0", "bob@contoso.com", NULL, CURLE_PARTIAL_FILE, 200, NULL, ""},
    {"malformed", "bob@contoso.com", NULL, CURLE_OK, 200, NULL, ""},
    /* the contoso scenario's own faults */
    {NULL, "frank@contoso.com", NULL, CURLE_OK, 500, "ErrorServerBusy", "20"},
    {NULL, "henry@contoso.com", NULL, CURLE_OK, 500, NULL, ""},
    {NULL, "frank@contoso.com", "finditem", CURLE_OK, 500, "ErrorServerBusy", "20"},
};

START_TEST(fault_list)
{
  char err[256], code[64], bo[32];
  struct ec_resp r;
  CURLcode rc;

  if(cases[_i].spec)
    ck_assert_msg(emu_add_fault(emu, cases[_i].spec, err, sizeof(err)) > 0, "%s", err);
  rc = ec_request("POST", url, SVC, NULL,
                  ec_soap("Exchange2013_SP1", cases[_i].who, cases[_i].op ? finditem : getfolder),
                  &r);
  if(cases[_i].curl == CURLE_GOT_NOTHING)
    ck_assert_msg(rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR, "curl %d", rc);
  else
    ck_assert_msg(rc == cases[_i].curl, "curl %d (%s)", rc, curl_easy_strerror(rc));
  if(rc != CURLE_OK) {
    ec_free(&r);
    return;
  }
  ck_assert_int_eq(r.status, cases[_i].status);
  if(!cases[_i].fault) {
    /* HTML or broken XML, never a SOAP envelope */
    ck_assert(!r.doc || !exs_xml_is(xmlDocGetRootElement(r.doc), EC_NS_SOAP, "Envelope"));
    if(cases[_i].status >= 500 && cases[_i].status != 200)
      ck_assert_ptr_nonnull(strstr(r.body.data, "<html>"));
  }
  else {
    ec_validate(&r);
    ck_assert_str_eq(ec_fault(&r, code, sizeof(code)), cases[_i].fault);
    ck_assert_str_eq(backoff_of(&r, bo, sizeof(bo)), cases[_i].backoff);
  }
  ec_free(&r);
}
END_TEST

/* Count which of n GetFolder calls (as bob, impersonated) were faulted. */
static void pattern(int n, char *out)
{
  for(int i = 0; i < n; i++) {
    struct ec_resp r;
    ec_post(url, SVC, ec_soap("Exchange2016", "bob@contoso.com", getfolder), &r);
    out[i] = r.status >= 500 ? 'F' : '.';
    ec_free(&r);
  }
  out[n] = '\0';
}

START_TEST(times_every_and_probability)
{
  char err[256], p1[64], p2[64];
  size_t faults = 0;

  ck_assert_int_gt(emu_add_fault(emu, "ews-code=ErrorServerBusy times=2", err, sizeof(err)), 0);
  pattern(5, p1);
  ck_assert_str_eq(p1, "FF...");
  emu_clear_faults(emu);
  ck_assert_int_gt(emu_add_fault(emu, "ews-code=ErrorServerBusy every=3", err, sizeof(err)), 0);
  pattern(7, p1);
  ck_assert_str_eq(p1, "..F..F.");
  emu_clear_faults(emu);
  ck_assert_int_gt(
      emu_add_fault(emu, "ews-code=ErrorServerBusy probability=0.5 seed=7", err, sizeof(err)), 0);
  pattern(40, p1);
  emu_clear_faults(emu);
  ck_assert_int_gt(
      emu_add_fault(emu, "ews-code=ErrorServerBusy probability=0.5 seed=7", err, sizeof(err)), 0);
  pattern(40, p2);
  ck_assert_str_eq(p1, p2); /* seeded: the same sequence again */
  for(size_t i = 0; i < 40; i++)
    faults += p1[i] == 'F';
  ck_assert_msg(faults > 5 && faults < 35, "pattern %s", p1);
}
END_TEST

/* A dripped answer is the whole answer, in many pieces; cut-after=N sends
 * exactly N bytes of the body; 503 at random repeats with its seed. */
START_TEST(drip_cut_and_random_503)
{
  char err[256], p1[64], p2[64];
  struct ec_resp whole, r;
  const char *body = ec_soap("Exchange2016", "bob@contoso.com", getfolder);
  char *copy = strdup(body);
  size_t faults = 0;

  ec_post(url, SVC, copy, &whole);
  ck_assert_int_eq(whole.status, 200);
  ck_assert_int_gt(
      emu_add_fault(emu, "operation=GetFolder drip-bytes=7 drip-ms=0 times=1", err, sizeof(err)),
      0);
  ec_post(url, SVC, copy, &r);
  ck_assert_int_eq(r.status, 200);
  ck_assert_uint_eq(r.body.len, whole.body.len);
  ck_assert(!memcmp(r.body.data, whole.body.data, whole.body.len));
  ec_validate(&r);
  ec_free(&r);
  emu_clear_faults(emu);
  ck_assert_int_gt(emu_add_fault(emu, "cut-after=123 times=1", err, sizeof(err)), 0);
  ck_assert_int_eq(ec_request("POST", url, SVC, NULL, copy, &r), CURLE_PARTIAL_FILE);
  ck_assert_uint_eq(r.body.len, 123);
  ck_assert(!memcmp(r.body.data, whole.body.data, 123));
  ec_free(&r);
  /* the next request (times=1) is whole again */
  ec_post(url, SVC, copy, &r);
  ck_assert_uint_eq(r.body.len, whole.body.len);
  ec_free(&r);
  emu_clear_faults(emu);
  ck_assert_int_gt(emu_add_fault(emu, "http-status=503 probability=0.3 seed=11", err, sizeof(err)),
                   0);
  pattern(40, p1);
  emu_clear_faults(emu);
  ck_assert_int_gt(emu_add_fault(emu, "http-status=503 probability=0.3 seed=11", err, sizeof(err)),
                   0);
  pattern(40, p2);
  ck_assert_str_eq(p1, p2);
  for(size_t i = 0; i < 40; i++)
    faults += p1[i] == 'F';
  ck_assert_msg(faults > 2 && faults < 30, "pattern %s", p1);
  ec_free(&whole);
  free(copy);
}
END_TEST

START_TEST(delay_holds_the_answer)
{
  char err[256];
  struct ec_resp r;
  int64_t t0;

  ck_assert_int_gt(emu_add_fault(emu, "operation=GetFolder delay-ms=250", err, sizeof(err)), 0);
  t0 = exs_monotonic_ms();
  ec_post(url, SVC, ec_soap("Exchange2016", "bob@contoso.com", getfolder), &r);
  ck_assert_int_ge(exs_monotonic_ms() - t0, 250);
  ck_assert_int_eq(r.status, 200);
  ec_validate(&r);
  ec_free(&r);
}
END_TEST

START_TEST(concurrent_requests_are_counted_in_flight)
{
  char err[256];
  CURLM *m = curl_multi_init();
  CURL *e[3];
  struct exs_buf sink[3];
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/xml");
  const char *body = ec_soap("Exchange2016", "bob@contoso.com", getfolder);
  int running = 1;
  bool released = false;
  int64_t deadline = exs_monotonic_ms() + 90000;

  /* the answers are held until all three requests are in, then released:
   * in flight together however slow the machine is */
  ck_assert_int_gt(emu_add_fault(emu, "delay-ms=600000", err, sizeof(err)), 0);
  emu_journal_clear(emu);
  for(int i = 0; i < 3; i++) {
    e[i] = curl_easy_init();
    exs_buf_init(&sink[i], 1 << 20);
    curl_easy_setopt(e[i], CURLOPT_URL, url);
    curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e[i], CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(e[i], CURLOPT_USERPWD, SVC);
    curl_easy_setopt(e[i], CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, ec_write);
    curl_easy_setopt(e[i], CURLOPT_WRITEDATA, &sink[i]);
    curl_multi_add_handle(m, e[i]);
  }
  while(running && exs_monotonic_ms() < deadline) {
    curl_multi_perform(m, &running);
    if(!released && emu_delayed(emu) == 3) {
      emu_release_delayed(emu);
      released = true;
    }
    if(running)
      curl_multi_poll(m, NULL, 0, 10, NULL);
  }
  ck_assert_msg(released, "the three requests were never in flight together");
  ck_assert_int_eq(running, 0);
  for(int i = 0; i < 3; i++) {
    long st = 0;
    curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &st);
    ck_assert_int_eq(st, 200);
    curl_multi_remove_handle(m, e[i]);
    curl_easy_cleanup(e[i]);
    exs_buf_free(&sink[i]);
  }
  curl_multi_cleanup(m);
  curl_slist_free_all(h);
  ck_assert_int_eq(emu_journal_max_in_flight(emu, "svc-crm"), 3);
  ck_assert_int_eq(emu_journal_max_in_flight(emu, "alice"), 0);
}
END_TEST

static const struct {
  const char *spec, *needle;
} bad_specs[] = {
    {"", "no effect"},
    {"mailbox=x@y.z", "no effect"},
    {"ews-code=ErrorServerBusy times=0", "times=0"},
    {"http-status=99", "http-status=99"},
    {"probability=1.5 ews-code=X", "probability"},
    {"delay-ms=50-10", "delay-ms"},
    {"colour=blue reset", "colour"},
    {"drip-bytes=0", "drip-bytes=0"},
    {"cut-after=-1", "cut-after=-1"},
};

START_TEST(bad_fault_specs_are_refused)
{
  char err[256] = "";

  ck_assert_int_eq(emu_add_fault(emu, bad_specs[_i].spec, err, sizeof(err)), -1);
  ck_assert_msg(strstr(err, bad_specs[_i].needle) != NULL, "got: %s", err);
}
END_TEST

START_TEST(admin_api)
{
  struct ec_resp r;
  char u[300];

  snprintf(u, sizeof(u), "%s/_emulator/health", base);
  ck_assert_int_eq(ec_request("GET", u, NULL, NULL, NULL, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_nonnull(strstr(r.body.data, "\"status\":\"ok\""));
  ec_free(&r);

  snprintf(u, sizeof(u), "%s/_emulator/faults", base);
  ck_assert_int_eq(ec_request("POST", u, NULL, NULL, "operation=GetFolder http-status=503", &r),
                   CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_nonnull(strstr(r.body.data, "\"id\":"));
  ec_free(&r);
  ck_assert_int_eq(ec_request("POST", u, NULL, NULL, "bogus", &r), CURLE_OK);
  ck_assert_int_eq(r.status, 400);
  ec_free(&r);
  ec_post(url, SVC, ec_soap("Exchange2016", "bob@contoso.com", getfolder), &r);
  ck_assert_int_eq(r.status, 503);
  ec_free(&r);
  ck_assert_int_eq(ec_request("DELETE", u, NULL, NULL, NULL, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ec_free(&r);
  ec_post(url, SVC, ec_soap("Exchange2016", "bob@contoso.com", getfolder), &r);
  ck_assert_int_eq(r.status, 200);
  ec_free(&r);

  snprintf(u, sizeof(u), "%s/_emulator/deliver?to=carol%%40contoso.com&subject=Hello", base);
  ck_assert_int_eq(ec_request("POST", u, NULL, NULL, "body text", &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ec_free(&r);
  ck_assert_int_eq(emu_folder_count(emu, "carol@contoso.com", "inbox"), 1);
  snprintf(u, sizeof(u), "%s/_emulator/deliver?to=ghost%%40contoso.com", base);
  ck_assert_int_eq(ec_request("POST", u, NULL, NULL, "x", &r), CURLE_OK);
  ck_assert_int_eq(r.status, 400);
  ec_free(&r);

  snprintf(u, sizeof(u), "%s/_emulator/journal", base);
  ck_assert_int_eq(ec_request("GET", u, NULL, NULL, NULL, &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_nonnull(strstr(r.body.data, "\"operation\":\"GetFolder\""));
  ck_assert_ptr_nonnull(strstr(r.body.data, "\"impersonated\":\"bob@contoso.com\""));
  ec_free(&r);

  snprintf(u, sizeof(u), "%s/_emulator/reset", base);
  ck_assert_int_eq(ec_request("POST", u, NULL, NULL, "", &r), CURLE_OK);
  ck_assert_int_eq(r.status, 200);
  ec_free(&r);
  ck_assert_int_eq(emu_folder_count(emu, "carol@contoso.com", "inbox"), 0);
  /* the reset reloaded the scenario, faults included: frank is throttled again */
  ec_post(url, SVC, ec_soap("Exchange2016", "frank@contoso.com", getfolder), &r);
  ck_assert_int_eq(r.status, 500);
  ec_free(&r);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_faults");
  TCase *tc = tcase_create("faults");

  /* No fork per test unless asked (CK_FORK=yes): forking a sanitizer build
   * with the EWS schema loaded costs seconds per test. Every test starts its
   * own emulator in a checked fixture, so tests stay independent. */
  setenv("CK_FORK", "no", 0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ec_load_schema();
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, fault_list, 0, sizeof(cases) / sizeof(cases[0]));
  tcase_add_test(tc, times_every_and_probability);
  tcase_add_test(tc, delay_holds_the_answer);
  tcase_add_test(tc, drip_cut_and_random_503);
  tcase_add_test(tc, concurrent_requests_are_counted_in_flight);
  tcase_add_loop_test(tc, bad_fault_specs_are_refused, 0, sizeof(bad_specs) / sizeof(bad_specs[0]));
  tcase_add_test(tc, admin_api);
  suite_add_tcase(s, tc);
  {
    int rc = tu_run(s);
    exs_schema_free(ec_ews_schema);
    curl_global_cleanup();
    return rc;
  }
}

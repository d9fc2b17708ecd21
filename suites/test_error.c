/* test_error.c - categories, transience, hints, EWS code mapping. */
#include <stdio.h>
#include <string.h>

#include "exsync/error.h"
#include "testutil.h"

/* docs/test-enable.md, Errors: which categories are transient. */
static const struct {
  enum exs_category cat;
  const char *name;
  bool transient;
} cats[] = {
    {EXS_CAT_NOT_APPROVED, "NOT_APPROVED", false},
    {EXS_CAT_CONFIG, "CONFIG", false},
    {EXS_CAT_INSECURE_CHANNEL, "INSECURE_CHANNEL", false},
    {EXS_CAT_AUTODISCOVER, "AUTODISCOVER", false},
    {EXS_CAT_DNS, "DNS", true},
    {EXS_CAT_CONNECT, "CONNECT", true},
    {EXS_CAT_TLS_TRUST, "TLS_TRUST", false},
    {EXS_CAT_TLS_NAME, "TLS_NAME", false},
    {EXS_CAT_TLS_EXPIRED, "TLS_EXPIRED", false},
    {EXS_CAT_CREDENTIALS, "CREDENTIALS", false},
    {EXS_CAT_MBX_CREDENTIALS, "MBX_CREDENTIALS", false},
    {EXS_CAT_IMPERSONATION, "IMPERSONATION", false},
    {EXS_CAT_MAILBOX_NOT_FOUND, "MAILBOX_NOT_FOUND", false},
    {EXS_CAT_ACCESS_DENIED, "ACCESS_DENIED", false},
    {EXS_CAT_THROTTLED, "THROTTLED", true},
    {EXS_CAT_SERVER, "SERVER", true},
    {EXS_CAT_TIMEOUT, "TIMEOUT", true},
    {EXS_CAT_PROTOCOL, "PROTOCOL", false},
    {EXS_CAT_ACT_OTHER_ORG, "ACT_OTHER_ORG", false},
    {EXS_CAT_ACT_DELEGATION, "ACT_DELEGATION", false},
};

START_TEST(category_table)
{
  struct exs_error err;

  ck_assert_str_eq(exs_category_name(cats[_i].cat), cats[_i].name);
  ck_assert_int_eq(exs_category_from_name(cats[_i].name), cats[_i].cat);
  ck_assert_int_eq(exs_category_transient(cats[_i].cat), cats[_i].transient);
  ck_assert_uint_gt(strlen(exs_category_hint(cats[_i].cat)), 20);
  exs_error_clear(&err);
  err.http_status = 503;
  snprintf(err.url, sizeof(err.url), "https://x/");
  exs_error_set(&err, cats[_i].cat, "failed %d", 7);
  ck_assert_int_eq(err.category, cats[_i].cat);
  ck_assert_int_eq(err.transient, cats[_i].transient);
  ck_assert_str_eq(err.message, "failed 7");
  ck_assert_str_eq(err.hint, exs_category_hint(cats[_i].cat));
  ck_assert_int_eq(err.http_status, 503); /* protocol fields are kept */
  ck_assert_str_eq(err.url, "https://x/");
}
END_TEST

START_TEST(category_edges)
{
  struct exs_error err;

  ck_assert_str_eq(exs_category_name(EXS_CAT_NONE), "NONE");
  ck_assert_str_eq(exs_category_name(EXS_CAT_TEST_OK), "TEST_OK");
  ck_assert_str_eq(exs_category_name((enum exs_category)999), "UNKNOWN");
  ck_assert_int_eq(exs_category_from_name("NOPE"), EXS_CAT_NONE);
  ck_assert_int_eq(exs_category_from_name(NULL), EXS_CAT_NONE);
  ck_assert(!exs_category_transient(EXS_CAT_NONE));
  exs_error_clear(&err);
  exs_error_set(&err, (enum exs_category)999, "x");
  ck_assert_int_eq(err.category, EXS_CAT_PROTOCOL);
  exs_error_step(&err, "a very long step name that is longer than the field can hold, surely");
  ck_assert_uint_eq(strlen(err.step), sizeof(err.step) - 1);
  exs_error_set(NULL, EXS_CAT_DNS, "no crash");
  exs_error_clear(NULL);
}
END_TEST

static const struct {
  const char *code;
  enum exs_category cat;
} codes[] = {
    {"ErrorServerBusy", EXS_CAT_THROTTLED},
    {"ErrorExceededConnectionCount", EXS_CAT_THROTTLED},
    {"ErrorTimeoutExpired", EXS_CAT_TIMEOUT},
    {"ErrorInternalServerTransientError", EXS_CAT_SERVER},
    {"ErrorMailboxMoveInProgress", EXS_CAT_SERVER},
    {"ErrorMailboxStoreUnavailable", EXS_CAT_SERVER},
    {"ErrorConnectionFailed", EXS_CAT_SERVER},
    {"ErrorAccessDenied", EXS_CAT_ACCESS_DENIED},
    {"ErrorImpersonateUserDenied", EXS_CAT_IMPERSONATION},
    {"ErrorImpersonationFailed", EXS_CAT_IMPERSONATION},
    {"ErrorNonExistentMailbox", EXS_CAT_MAILBOX_NOT_FOUND},
    {"ErrorSendAsDenied", EXS_CAT_ACCESS_DENIED},
    {"ErrorSchemaValidation", EXS_CAT_PROTOCOL},
    {"ErrorInvalidSyncStateData", EXS_CAT_PROTOCOL},
    {"SomethingNew", EXS_CAT_PROTOCOL},
    {NULL, EXS_CAT_PROTOCOL},
};

START_TEST(ews_code_mapping)
{
  ck_assert_int_eq(exs_category_from_ews_code(codes[_i].code), codes[_i].cat);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("error");
  TCase *tc = tcase_create("error");

  tcase_add_loop_test(tc, category_table, 0, sizeof(cats) / sizeof(cats[0]));
  tcase_add_test(tc, category_edges);
  tcase_add_loop_test(tc, ews_code_mapping, 0, sizeof(codes) / sizeof(codes[0]));
  suite_add_tcase(s, tc);
  return tu_run(s);
}

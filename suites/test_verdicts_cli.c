#define _GNU_SOURCE
/* test_verdicts_cli.c - the verdict rules from the command line, end to
 * end on a store against the in-process emulator (issue 11): what a change
 * re-opens, refused deletes and defaults, several mailboxes at once,
 * separate outgoing settings, the alert walls, the profile check seen from
 * a profile job (failed logons counted in the emulator's journal), and the
 * retry cycle of `exsync sync` on a frozen clock (no sleeps). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync-diag/emu.h"
#include "exsync-emulator/emulator.h"
#include "exsync/buf.h"
#include "cliworld.h"
#include "testutil.h"

#define RUN(code, ...)                                                                             \
  do {                                                                                             \
    char *o_;                                                                                      \
    int rc_ = cw_run(&o_, "--db", cw_db_path, "--connect-to", cw_connect_to, __VA_ARGS__, NULL);   \
    ck_assert_msg(rc_ == (code), "exit %d, want %d:\n%s", rc_, (code), o_);                        \
    free(o_);                                                                                      \
  } while(0)

static bool out_has(const char *s)
{
  return strstr(cw_last_stdout, s) || strstr(cw_last_stderr, s);
}

static size_t failed_logons(void)
{
  size_t n = emu_journal_count(cw_emu), i, k = 0;
  struct emu_journal_entry *e = calloc(n ? n : 1, sizeof(*e));

  n = emu_journal_get(cw_emu, 0, e, n);
  for(i = 0; i < n; i++)
    k += e[i].auth_failed ? 1 : 0;
  free(e);
  return k;
}

/* A change re-opens the verdicts it affects; refused deletes and defaults;
 * mailbox set of several addresses. */
START_TEST(changes_reopen_verdicts)
{
  RUN(0, "import", cw_org_path);
  RUN(0, "mailbox", "test-enable", "alice@contoso.com", "bob@contoso.com");
  RUN(0, "mailbox", "set", "alice@contoso.com", "outgoing=none");
  RUN(0, "mailbox", "show", "alice@contoso.com");
  ck_assert(out_has("Success / Not Run / Success"));
  ck_assert(out_has("yes / no / yes"));
  /* several mailboxes at once */
  RUN(0, "mailbox", "set", "alice@contoso.com", "bob@contoso.com", "act=none");
  ck_assert(out_has("mailbox bob@contoso.com updated"));
  RUN(0, "mailbox", "show", "bob@contoso.com");
  ck_assert(out_has("Success / Success / Not Run"));
  /* an unknown address among them: nothing changes */
  RUN(2, "mailbox", "set", "alice@contoso.com", "nobody@contoso.com", "act=ssync");
  RUN(0, "mailbox", "show", "alice@contoso.com");
  ck_assert(out_has("Success / Not Run / Not Run"));
  /* rejecting the address disables email at once */
  RUN(0, "mailbox", "reject", "bob@contoso.com");
  RUN(0, "mailbox", "show", "bob@contoso.com");
  ck_assert(out_has("no / no / no"));
  /* a profile change re-opens its mailboxes */
  RUN(0, "profile", "set", "Exchange", "protocol=ntlm");
  ck_assert(out_has("set to Not Run and disabled"));
  RUN(0, "mailbox", "show", "alice@contoso.com");
  ck_assert(out_has("Not Run / Not Run / Not Run"));
  ck_assert(out_has("no / no / no"));
  /* the default profile must exist */
  RUN(2, "org", "set", "default-profile=Nope");
  ck_assert(out_has("no profile named 'Nope'"));
  /* a used profile is not deleted without --force */
  RUN(2, "profile", "delete", "Exchange");
  ck_assert(out_has("used by 11 mailboxes"));
  RUN(0, "profile", "show", "Exchange");
  RUN(0, "profile", "delete", "Exchange", "--force");
  ck_assert(out_has("11 mailboxes left without a profile"));
  RUN(0, "mailbox", "list", "--profile", "Exchange");
  ck_assert(!out_has("alice@contoso.com"));
}
END_TEST

/* The outgoing test goes where outgoing goes, with its own settings. */
START_TEST(outgoing_settings_from_the_cli)
{
  char bad[160], good[160];

  snprintf(bad, sizeof(bad), "outgoing-url=http://127.0.0.1:1/EWS/Exchange.asmx");
  snprintf(good, sizeof(good), "outgoing-url=http://mail.contoso.com:%d/EWS/Exchange.asmx",
           cw_port);
  RUN(0, "import", cw_org_path);
  RUN(0, "profile", "set", "Exchange", bad);
  RUN(1, "mailbox", "test-enable", "alice@contoso.com");
  RUN(0, "mailbox", "show", "alice@contoso.com");
  ck_assert(out_has("Success / Failure / Success"));
  /* outgoing-* needs same-outgoing=no, and names itself */
  RUN(2, "profile", "set", "Exchange", "outgoing-user=CONTOSO\\alice");
  ck_assert(out_has("outgoing-user: only with same-outgoing=no"));
  setenv("ALICE_PW", "alice-pw", 1);
  RUN(0, "profile", "set", "Exchange", good, "same-outgoing=no", "outgoing-user=CONTOSO\\alice",
      "outgoing-impersonation=no", "--outgoing-password-env", "ALICE_PW");
  RUN(0, "profile", "show", "Exchange");
  ck_assert(out_has("outgoing-password             (set, encrypted)"));
  ck_assert(!out_has("alice-pw"));
  emu_journal_clear(cw_emu);
  RUN(0, "mailbox", "test-enable", "alice@contoso.com");
  {
    /* the test message went out as alice, the Inbox was read as svc-crm */
    size_t n = emu_journal_count(cw_emu), i;
    struct emu_journal_entry *e = calloc(n, sizeof(*e));
    bool sent_as_alice = false, read_as_svc = false;
    n = emu_journal_get(cw_emu, 0, e, n);
    for(i = 0; i < n; i++) {
      if(!strcmp(e[i].operation, "CreateItem") && !strcmp(e[i].auth_user, "alice"))
        sent_as_alice = true;
      if(!strcmp(e[i].operation, "FindItem") && !strcmp(e[i].auth_user, "svc-crm"))
        read_as_svc = true;
    }
    free(e);
    ck_assert(sent_as_alice && read_as_svc);
  }
  unsetenv("ALICE_PW");
}
END_TEST

/* Walls and the profile check seen from a profile job. */
START_TEST(walls_and_profile_check)
{
  char *o;

  RUN(0, "import", cw_org_path);
  RUN(1, "mailbox", "test-enable", "alice@contoso.com", "dave@contoso.com");
  /* the profile owner sees dave's error, not alice's success note */
  RUN(0, "alerts", "admin@contoso.com");
  ck_assert(out_has("IMPERSONATION"));
  ck_assert(!out_has("TEST_OK"));
  RUN(0, "alerts", "alice@contoso.com");
  ck_assert(out_has("TEST_OK"));
  /* a wrong profile password: presented at most twice for 11 mailboxes */
  setenv("EXSYNC_PROFILE_PASSWORD", "wrong-pw", 1);
  RUN(0, "import", cw_org_path);
  emu_journal_clear(cw_emu);
  ck_assert_int_eq(cw_run(&o, "--db", cw_db_path, "--connect-to", cw_connect_to, "--format", "json",
                          "profile", "test-enable", "Exchange", NULL),
                   1);
  free(o);
  ck_assert_uint_le(failed_logons(), 2);
  ck_assert(strstr(cw_last_stdout, "\"profiles\": [\n    {\"name\": \"Exchange\", \"alerts\": [{"));
  ck_assert(strstr(cw_last_stdout, "\"meta\": {\"version\": "));
  ck_assert(strstr(cw_last_stdout, "\"workload\": null"));
  RUN(0, "alerts", "--profile", "Exchange");
  ck_assert(out_has("CREDENTIALS"));
  ck_assert(out_has("profile check of 'Exchange'"));
  RUN(0, "alerts", "admin@contoso.com");
  ck_assert(out_has("profile check of 'Exchange'"));
  /* mailbox owners get profile-level alerts only with notify-owners */
  RUN(0, "alerts", "bob@contoso.com");
  ck_assert(!out_has("profile check"));
  RUN(0, "org", "set", "notify-owners=yes");
  RUN(0, "alerts", "bob@contoso.com");
  ck_assert(out_has("profile check of 'Exchange'"));
  RUN(2, "alerts", "--profile", "Nope");
  setenv("EXSYNC_PROFILE_PASSWORD", "svc-pw", 1);
}
END_TEST

/* The retry cycle belongs to `exsync sync`: a throttled mailbox is retried
 * when due, on the schedule of the test that scheduled it (frozen clock). */
START_TEST(sync_runs_the_retry_cycle)
{
  char err[256];

  RUN(0, "import", cw_org_path);
  ck_assert_int_gt(emu_add_fault(cw_emu,
                                 "mailbox=bob@contoso.com ews-code=ErrorServerBusy "
                                 "backoff-ms=20 times=4",
                                 err, sizeof(err)),
                   0);
  setenv("EXSYNC_FROZEN_TIME", "2026-06-01T00:00:00Z", 1);
  RUN(1, "mailbox", "test-enable", "bob@contoso.com", "--retry-interval", "60");
  ck_assert(out_has("THROTTLED"));
  RUN(0, "mailbox", "show", "bob@contoso.com");
  ck_assert(out_has("2026-06-01T00:01:00Z"));
  /* not yet due */
  setenv("EXSYNC_FROZEN_TIME", "2026-06-01T00:00:30Z", 1);
  RUN(0, "sync", "--once", "--mailbox", "bob@contoso.com");
  ck_assert(!out_has("retried"));
  /* due: retried and enabled, the last error gone */
  setenv("EXSYNC_FROZEN_TIME", "2026-06-01T00:01:01Z", 1);
  RUN(0, "sync", "--once", "--mailbox", "bob@contoso.com");
  ck_assert(out_has("Test & Enable of bob@contoso.com retried: enabled"));
  RUN(0, "mailbox", "show", "bob@contoso.com");
  ck_assert(out_has("Success / Success / Success"));
  ck_assert(out_has("yes / yes / yes"));
  ck_assert(!out_has("THROTTLED"));
  unsetenv("EXSYNC_FROZEN_TIME");
}
END_TEST

int main(void)
{
  Suite *s = suite_create("verdicts_cli");
  TCase *tc = tcase_create("cli");

  tcase_add_checked_fixture(tc, cw_setup, cw_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, changes_reopen_verdicts);
  tcase_add_test(tc, outgoing_settings_from_the_cli);
  tcase_add_test(tc, walls_and_profile_check);
  tcase_add_test(tc, sync_runs_the_retry_cycle);
  suite_add_tcase(s, tc);
  return tu_run(s);
}

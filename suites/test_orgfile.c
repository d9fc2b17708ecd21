/* test_orgfile.c - the org configuration file and CSV mailbox lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exsync/orgfile.h"
#include "testutil.h"

static char dir[256];

static void setup(void)
{
  snprintf(dir, sizeof(dir), "/tmp/exsync-orgfile-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  setenv("EXSYNC_PROFILE_PASSWORD", "Env-Canary-Pw-31", 1);
}

static void teardown(void)
{
  char cmd[300];

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static const char *xsd(void)
{
  return tu_path("fixtures/schema/org.xsd");
}

/* Write text to dir/name with mode; returns the path (static ring). */
static const char *put_file(const char *name, const char *text, mode_t mode)
{
  static char paths[4][400];
  static int k;
  char *p = paths[k++ % 4];
  FILE *f;

  snprintf(p, 400, "%s/%s", dir, name);
  f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  ck_assert_int_eq(chmod(p, mode), 0);
  return p;
}

/* Copy a fixture into the temp dir with a given mode. */
static const char *copy_fixture(const char *rel, const char *name, mode_t mode)
{
  char *text = tu_read_file(tu_path(rel), NULL);
  const char *p = put_file(name, text, mode);

  free(text);
  return p;
}

static const struct exs_mailbox *find_mailbox(const struct exs_orgfile *f, const char *address)
{
  size_t i;

  for(i = 0; i < f->n_mailboxes; i++)
    if(!strcmp(f->mailboxes[i].address, address))
      return &f->mailboxes[i];
  return NULL;
}

START_TEST(contoso_loads)
{
  struct exs_orgfile *f = NULL;
  struct exs_error e;
  const struct exs_profile *p;
  const struct exs_mailbox *m;
  static const char *ssync[] = {"alice", "bob",   "carol", "dave", "ghost",
                                "erin",  "frank", "grace", "henry"};
  char addr[64];
  size_t i;

  exs_error_clear(&e);
  ck_assert_msg(exs_orgfile_load(tu_path("fixtures/orgs/contoso.xml"), xsd(), 0, &f, &e) == 0, "%s",
                e.message);
  ck_assert_str_eq(f->org.id, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  ck_assert_str_eq(f->org.default_profile, "Exchange");
  ck_assert(f->org.approve_users && f->org.approve_queues);
  ck_assert(f->org.alerts_errors && !f->org.alerts_warnings && f->org.alerts_information);
  ck_assert(!f->org.allow_non_ssl);
  ck_assert_uint_eq(f->n_warnings, 0);

  ck_assert_uint_eq(f->n_profiles, 1);
  p = &f->profiles[0];
  ck_assert_str_eq(p->name, "Exchange");
  ck_assert(!p->autodiscover);
  ck_assert_str_eq(p->incoming_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_str_eq(p->outgoing_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_int_eq(p->retrieval, EXS_RETRIEVAL_PROFILE);
  ck_assert(p->impersonation);
  ck_assert_int_eq(p->protocol, EXS_AUTH_AUTODETECT);
  ck_assert_str_eq(p->user, "CONTOSO\\svc-crm");
  ck_assert_str_eq(p->password, "Env-Canary-Pw-31");
  ck_assert_int_eq(p->process_from, 1767225600);
  ck_assert_int_eq(p->poll_minutes, 5);
  ck_assert_int_eq(p->max_connections, 10);
  ck_assert(p->move_undeliverable);
  ck_assert_int_eq(p->timeout_ms, 100000);
  ck_assert_str_eq(p->owner, "admin@contoso.com");

  ck_assert_uint_eq(f->n_mailboxes, 11);
  for(i = 0; i < sizeof(ssync) / sizeof(ssync[0]); i++) {
    snprintf(addr, sizeof(addr), "%s@contoso.com", ssync[i]);
    m = find_mailbox(f, addr);
    ck_assert_msg(m != NULL, "%s", addr);
    ck_assert_int_eq(m->incoming, EXS_IN_SSYNC);
    ck_assert_int_eq(m->outgoing, EXS_OUT_SSYNC);
    ck_assert_int_eq(m->act, EXS_ACT_SSYNC);
    ck_assert_int_eq(m->approval, EXS_APPROVAL_APPROVED);
    ck_assert_str_eq(m->profile, "Exchange");
    ck_assert(!m->is_queue && m->active);
    ck_assert_int_eq(m->track, EXS_TRACK_RESPONSES);
  }
  m = find_mailbox(f, "ivan@contoso.com");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->approval, EXS_APPROVAL_REJECTED);
  m = find_mailbox(f, "judy@contoso.com");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->incoming, EXS_IN_SSYNC);
  ck_assert_int_eq(m->outgoing, EXS_OUT_NONE);
  ck_assert_int_eq(m->act, EXS_ACT_OUTLOOK);
  ck_assert_str_eq(f->mailboxes[0].name, "Alice");
  ck_assert_int_eq(f->mailbox_lines[0], 16);
  exs_orgfile_free(f);
  exs_orgfile_free(NULL);
}
END_TEST

START_TEST(contoso_without_the_env_variable)
{
  struct exs_orgfile *f = NULL;
  struct exs_error e;

  unsetenv("EXSYNC_PROFILE_PASSWORD");
  ck_assert_int_eq(exs_orgfile_load(tu_path("fixtures/orgs/contoso.xml"), xsd(), 0, &f, &e), -1);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(e.category, EXS_CAT_CONFIG);
  ck_assert_ptr_nonnull(strstr(e.message, "contoso.xml:13: attribute 'password-env': "));
  ck_assert_ptr_nonnull(strstr(e.message, "EXSYNC_PROFILE_PASSWORD is not set"));
}
END_TEST

static const struct {
  const char *file;
  int line;
  const char *attr; /* "attribute 'x'" or "element 'x'" */
  const char *rule_word;
} bad_cases[] = {
    {"bad-anonymous.xml", 5, "attribute 'authenticate-using'", "not a valid setting"},
    {"bad-missing-url.xml", 3, "attribute 'incoming-url'", "required when autodiscover is no"},
    {"bad-max-connections.xml", 6, "attribute 'max-connections'", "between 1 and 300"},
    {"bad-unknown-attribute.xml", 6, "attribute 'colour'", "not allowed"},
    {"bad-enum.xml", 5, "attribute 'incoming'", "'sync'"},
    {"bad-address.xml", 4, "attribute 'address'", "email address"},
    {"bad-unknown-profile.xml", 5, "attribute 'profile'", "no profile named 'Exchnage'"},
    {"bad-duplicate-mailbox.xml", 5, "attribute 'address'", "already defined"},
    {"bad-poll-minutes.xml", 3, "attribute 'poll-minutes'", "between 0 and 1440"},
    {"bad-url.xml", 4, "attribute 'incoming-url'", "http:// or https:// URL"},
    {"bad-two-passwords.xml", 5, "attribute 'password-file'", "only one of"},
    {"bad-missing-env.xml", 4, "attribute 'password-env'", "EXSYNC_TEST_SURELY_UNSET_VARIABLE"},
    {"bad-wrong-namespace.xml", 2, "element 'org'", "validation root"},
    {"bad-not-xml.xml", 4, "", "well-formed"},
};

START_TEST(bad_files_name_file_line_attribute)
{
  struct exs_orgfile *f = NULL;
  struct exs_error e;
  char rel[256], want[512];

  snprintf(rel, sizeof(rel), "fixtures/orgs/%s", bad_cases[_i].file);
  exs_error_clear(&e);
  ck_assert_int_eq(exs_orgfile_load(tu_path(rel), xsd(), 0, &f, &e), -1);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(e.category, EXS_CAT_CONFIG);
  snprintf(want, sizeof(want), "%s:%d: %s", tu_path(rel), bad_cases[_i].line, bad_cases[_i].attr);
  ck_assert_msg(!strncmp(e.message, want, strlen(want)), "got '%s', want prefix '%s'", e.message,
                want);
  ck_assert_msg(strstr(e.message, bad_cases[_i].rule_word) != NULL, "%s", e.message);
  ck_assert_ptr_null(strstr(e.message, "Env-Canary"));
  ck_assert_ptr_null(strchr(e.message, '\n'));
}
END_TEST

START_TEST(password_sources_and_warnings)
{
  struct exs_orgfile *f = NULL;
  struct exs_error e;
  const char *org;
  const struct exs_mailbox *m;
  size_t i;

  /* private files: no warning */
  copy_fixture("fixtures/orgs/kate.password", "kate.password", 0600);
  org = copy_fixture("fixtures/orgs/per-mailbox-credentials.xml", "org.xml", 0600);
  ck_assert_msg(exs_orgfile_load(org, xsd(), 0, &f, &e) == 0, "%s", e.message);
  ck_assert_uint_eq(f->n_warnings, 0);
  ck_assert_int_eq(f->org.approve_users, false);
  ck_assert_int_eq(f->profiles[0].retrieval, EXS_RETRIEVAL_USER);
  ck_assert_int_eq(f->profiles[0].protocol, EXS_AUTH_BASIC);
  m = find_mailbox(f, "kate@contoso.com");
  ck_assert_str_eq(m->password, "Kate-File-Pw-2"); /* the first line only */
  ck_assert_str_eq(m->user, "CONTOSO\\kate");
  ck_assert_str_eq(m->profile, "PerUser");     /* default-profile */
  ck_assert_int_eq(m->act, EXS_ACT_NONE);      /* default-act */
  ck_assert_int_eq(m->incoming, EXS_IN_SSYNC); /* the org's default */
  ck_assert_int_eq(m->track, EXS_TRACK_ALL);
  ck_assert_int_eq(m->process_from, 1769904000);
  ck_assert(m->allow_credentials);
  m = find_mailbox(f, "queue@contoso.com");
  ck_assert(m->is_queue);
  ck_assert_str_eq(m->password, "Literal-Pw-1");
  exs_orgfile_free(f);

  /* readable by others: a warning for the literal and for the password file */
  chmod(org, 0644);
  copy_fixture("fixtures/orgs/kate.password", "kate.password", 0640);
  ck_assert_msg(exs_orgfile_load(org, xsd(), 0, &f, &e) == 0, "%s", e.message);
  ck_assert_uint_eq(f->n_warnings, 2);
  {
    char want1[512], want2[512];
    snprintf(want1, sizeof(want1), "%s:6: attribute 'password-file': ", org);
    snprintf(want2, sizeof(want2), "%s:9: attribute 'password': ", org);
    ck_assert_msg(!strncmp(f->warnings[0], want1, strlen(want1)), "%s", f->warnings[0]);
    ck_assert_msg(!strncmp(f->warnings[1], want2, strlen(want2)), "%s", f->warnings[1]);
  }
  for(i = 0; i < f->n_warnings; i++) {
    ck_assert_ptr_null(strstr(f->warnings[i], "Literal-Pw"));
    ck_assert_ptr_null(strstr(f->warnings[i], "Kate-File"));
  }
  exs_orgfile_free(f);
}
END_TEST

/* Separate outgoing settings (docs/org-file.md): outgoing-url defaults to
 * incoming-url; with same-outgoing="no" each outgoing setting defaults to
 * its incoming counterpart; with same-outgoing="yes" they are an error
 * naming the attribute. */
START_TEST(outgoing_settings)
{
  static const char head[] = "<?xml version=\"1.0\"?>\n<org xmlns=\"urn:exsync:org:1\" id=\"x\">\n"
                             "<settings default-profile=\"P\"/>\n";
  char text[2048];
  struct exs_orgfile *f = NULL;
  struct exs_error e;
  const struct exs_profile *p;
  const char *path;

  setenv("EXSYNC_OUT_PW", "Out-Canary-Pw-7", 1);
  snprintf(text, sizeof(text),
           "%s<profile name=\"P\" incoming-url=\"https://mail.contoso.com/EWS/Exchange.asmx\"\n"
           "  user=\"CONTOSO\\svc-crm\" password-env=\"EXSYNC_PROFILE_PASSWORD\" "
           "impersonation=\"yes\" protocol=\"ntlm\"/>\n</org>\n",
           head);
  path = put_file("same.xml", text, 0600);
  ck_assert_msg(exs_orgfile_load(path, xsd(), 0, &f, &e) == 0, "%s", e.message);
  p = &f->profiles[0];
  ck_assert_str_eq(p->outgoing_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_str_eq(p->out_user, "CONTOSO\\svc-crm");
  ck_assert_str_eq(p->out_password, "Env-Canary-Pw-31");
  ck_assert(p->out_impersonation);
  exs_orgfile_free(f);

  snprintf(text, sizeof(text),
           "%s<profile name=\"P\" incoming-url=\"https://mail.contoso.com/EWS/Exchange.asmx\"\n"
           "  outgoing-url=\"https://smtp.contoso.com/EWS/Exchange.asmx\" same-outgoing=\"no\"\n"
           "  user=\"CONTOSO\\svc-crm\" password-env=\"EXSYNC_PROFILE_PASSWORD\" "
           "impersonation=\"yes\" protocol=\"ntlm\"\n"
           "  outgoing-user=\"CONTOSO\\svc-send\" outgoing-password-env=\"EXSYNC_OUT_PW\"\n"
           "  outgoing-protocol=\"basic\"/>\n</org>\n",
           head);
  path = put_file("own.xml", text, 0600);
  ck_assert_msg(exs_orgfile_load(path, xsd(), 0, &f, &e) == 0, "%s", e.message);
  p = &f->profiles[0];
  ck_assert_str_eq(p->outgoing_url, "https://smtp.contoso.com/EWS/Exchange.asmx");
  ck_assert_str_eq(p->out_user, "CONTOSO\\svc-send");
  ck_assert_str_eq(p->out_password, "Out-Canary-Pw-7");
  ck_assert_int_eq(p->out_protocol, EXS_AUTH_BASIC);
  ck_assert(p->out_impersonation); /* defaulted to impersonation */
  ck_assert_int_eq(p->out_retrieval, EXS_RETRIEVAL_PROFILE);
  ck_assert_str_eq(p->user, "CONTOSO\\svc-crm"); /* incoming untouched */
  ck_assert_int_eq(p->protocol, EXS_AUTH_NTLM);
  exs_orgfile_free(f);

  /* outgoing-* with same-outgoing="yes" (the default): an error naming it */
  snprintf(text, sizeof(text),
           "%s<profile name=\"P\" incoming-url=\"https://mail.contoso.com/EWS/Exchange.asmx\"\n"
           "  outgoing-user=\"CONTOSO\\svc-send\"/>\n</org>\n",
           head);
  path = put_file("bad.xml", text, 0600);
  ck_assert_int_eq(exs_orgfile_load(path, xsd(), 0, &f, &e), -1);
  ck_assert_msg(strstr(e.message, ":5: attribute 'outgoing-user'") != NULL, "%s", e.message);
  ck_assert_msg(strstr(e.message, "same-outgoing") != NULL, "%s", e.message);
  ck_assert_ptr_null(strstr(e.message, "Canary"));
}
END_TEST

START_TEST(no_password_in_error_messages)
{
  struct exs_orgfile *f = NULL;
  struct exs_error e;
  const char *org;
  char big[400];

  org = put_file("org.xml",
                 "<org xmlns=\"urn:exsync:org:1\">\n"
                 "  <profile name=\"P\" autodiscover=\"yes\" authenticate-using=\"profile\"\n"
                 "           user=\"u\" password=\"Literal-Canary-77\" max-connections=\"999\"/>\n"
                 "</org>\n",
                 0600);
  ck_assert_int_eq(exs_orgfile_load(org, xsd(), 0, &f, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, ":3: attribute 'max-connections'"));
  ck_assert_ptr_null(strstr(e.message, "Literal-Canary"));

  /* a too-long password names the rule, not the value */
  memset(big, 'x', 300);
  big[300] = 0;
  {
    char text[1024];
    snprintf(text, sizeof(text),
             "<org xmlns=\"urn:exsync:org:1\">\n"
             "  <profile name=\"P\" autodiscover=\"yes\" password=\"%s\"/>\n</org>\n",
             big);
    org = put_file("org2.xml", text, 0600);
  }
  ck_assert_int_eq(exs_orgfile_load(org, xsd(), 0, &f, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, ":2: attribute 'password': "));
  ck_assert_ptr_nonnull(strstr(e.message, "at most 250"));
  ck_assert_ptr_null(strstr(e.message, "xxxxxxxx"));
}
END_TEST

START_TEST(external_profiles_flag)
{
  struct exs_orgfile *f = NULL;
  struct exs_error e;
  const char *org = put_file("org.xml",
                             "<org xmlns=\"urn:exsync:org:1\">\n"
                             "  <settings default-profile=\"Stored\"/>\n"
                             "  <mailbox address=\"a@contoso.com\"/>\n"
                             "</org>\n",
                             0600);

  ck_assert_int_eq(exs_orgfile_load(org, xsd(), 0, &f, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, ":3: attribute 'address': no profile named 'Stored'"));
  ck_assert_int_eq(exs_orgfile_load(org, xsd(), EXS_ORGFILE_EXTERNAL_PROFILES, &f, &e), 0);
  ck_assert_str_eq(f->mailboxes[0].profile, "Stored");
  exs_orgfile_free(f);
}
END_TEST

START_TEST(schema_path_and_missing_schema)
{
  struct exs_orgfile *f = NULL;
  struct exs_error e;
  char buf[512];

  unsetenv("EXSYNC_DATA_DIR");
  ck_assert_str_eq(exs_orgfile_schema_path(buf, sizeof(buf)),
                   EXSYNC_DEFAULT_DATA_DIR "/schema/org.xsd");
  setenv("EXSYNC_DATA_DIR", "/opt/exsync/share", 1);
  ck_assert_str_eq(exs_orgfile_schema_path(buf, sizeof(buf)), "/opt/exsync/share/schema/org.xsd");
  /* NULL schema path: the env override is used, and a missing schema is clear */
  ck_assert_int_eq(exs_orgfile_load(tu_path("fixtures/orgs/contoso.xml"), NULL, 0, &f, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, "/opt/exsync/share/schema/org.xsd"));
  unsetenv("EXSYNC_DATA_DIR");
  ck_assert_int_eq(exs_orgfile_load(tu_path("fixtures/orgs/contoso.xml"), NULL, 0, &f, &e), 0);
  exs_orgfile_free(f);
  ck_assert_int_eq(exs_orgfile_load("/nonexistent/org.xml", xsd(), 0, &f, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, "/nonexistent/org.xml"));
}
END_TEST

START_TEST(csv_loads)
{
  struct exs_mailbox *list = NULL;
  struct exs_error e;
  struct exs_org org;
  size_t n, i;

  exs_org_defaults(&org);
  strcpy(org.default_profile, "Exchange");
  ck_assert_msg(
      exs_csv_load_mailboxes(tu_path("fixtures/orgs/mailboxes.csv"), &org, &list, &n, &e) == 0,
      "%s", e.message);
  ck_assert_uint_eq(n, 3);
  ck_assert_str_eq(list[0].address, "alice@contoso.com");
  ck_assert_int_eq(list[0].approval, EXS_APPROVAL_APPROVED);
  ck_assert_str_eq(list[1].name, "Bob \"the builder\", Jr.");
  ck_assert_int_eq(list[1].outgoing, EXS_OUT_NONE);
  ck_assert_int_eq(list[1].act, EXS_ACT_OUTLOOK);
  ck_assert_int_eq(list[1].approval, EXS_APPROVAL_PENDING);
  ck_assert_int_eq(list[1].track, EXS_TRACK_ALL);
  ck_assert(list[2].is_queue);
  ck_assert_int_eq(list[2].incoming, EXS_IN_FORWARD);
  ck_assert_int_eq(list[2].act, EXS_ACT_NONE);
  ck_assert_str_eq(list[2].profile, "Exchange"); /* empty cell: the default */
  ck_assert_int_eq(list[2].approval, EXS_APPROVAL_EMPTY);
  for(i = 0; i < n; i++)
    exs_mailbox_wipe(&list[i]);
  free(list);
}
END_TEST

static const struct {
  const char *text;
  const char *where; /* ":LINE:COL: column 'NAME'" */
  const char *word;
} csv_bad[] = {
    {"address,colour\na@contoso.com,blue\n", ":1:2: column 'colour'", "unknown column"},
    {"address,password\na@contoso.com,x\n", ":1:2: column 'password'", "no literal passwords"},
    {"name,kind\nA,user\n", ":1:1: column 'address'", "required"},
    {"address,address\n", ":1:2: column 'address'", "twice"},
    {"address,incoming\na@contoso.com,ssync\nb@contoso.com,sync\n", ":3:2: column 'incoming'",
     "none, outlook, ssync or forward"},
    {"address,name\na@contoso.com\n", ":2:2:", "columns where the header has 2"},
    {"address,name\na@contoso.com,\"unterminated\n", ":2:2:", "malformed"},
    {"# comment\n\naddress,kind\na@contoso.com,robot\n", ":4:2: column 'kind'", "user or queue"},
    {"address\nnot-an-address\n", ":2:1: column 'address'", "email address"},
    {"name,address\nA,a@contoso.com\nB,A@CONTOSO.COM\n", ":3:2: column 'address'", "already"},
    {"address,password-env\na@contoso.com,EXSYNC_TEST_SURELY_UNSET_VARIABLE\n",
     ":2:2: column 'password-env'", "not set"},
    {"", ":1:1:", "no header"},
};

START_TEST(csv_errors_name_line_and_column)
{
  struct exs_mailbox *list = NULL;
  struct exs_error e;
  size_t n;
  const char *path = put_file("list.csv", csv_bad[_i].text, 0600);
  char want[512];

  exs_error_clear(&e);
  ck_assert_int_eq(exs_csv_load_mailboxes(path, NULL, &list, &n, &e), -1);
  ck_assert_ptr_null(list);
  snprintf(want, sizeof(want), "%s%s", path, csv_bad[_i].where);
  ck_assert_msg(!strncmp(e.message, want, strlen(want)), "got '%s' want '%s'", e.message, want);
  ck_assert_msg(strstr(e.message, csv_bad[_i].word) != NULL, "%s", e.message);
}
END_TEST

START_TEST(csv_password_env)
{
  struct exs_mailbox *list = NULL;
  struct exs_error e;
  size_t n;
  const char *path = put_file("list.csv",
                              "address,user,password-env,allow-credentials\r\n"
                              "a@contoso.com,CONTOSO\\a,EXSYNC_PROFILE_PASSWORD,yes\r\n",
                              0600);

  ck_assert_msg(exs_csv_load_mailboxes(path, NULL, &list, &n, &e) == 0, "%s", e.message);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(list[0].password, "Env-Canary-Pw-31");
  ck_assert_str_eq(list[0].user, "CONTOSO\\a");
  ck_assert(list[0].allow_credentials);
  exs_mailbox_wipe(&list[0]);
  free(list);
}
END_TEST

/* Deterministic mutations of contoso.xml: whatever the bytes, the loader
 * either succeeds or gives one line naming the file, never crashes, never
 * leaks a password (run under ASan/UBSan in CI). */
static unsigned long long rng_state;

static unsigned rnd(unsigned n)
{
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (unsigned)((rng_state >> 33) % n);
}

START_TEST(mutated_files_fail_cleanly)
{
  static const char tokens[] = "<>\"'=/ \n&;:{}x0-";
  size_t len, i;
  char *orig = tu_read_file(tu_path("fixtures/orgs/contoso.xml"), &len);
  char *buf = malloc(2 * len + 64);
  int iter, ok = 0;

  rng_state = 20261129;
  for(iter = 0; iter < 400; iter++) {
    struct exs_orgfile *f = NULL;
    struct exs_error e;
    size_t n = len;
    int k, muts = 1 + (int)rnd(3);

    memcpy(buf, orig, len);
    for(k = 0; k < muts; k++) {
      size_t at = rnd((unsigned)n), span = 1 + rnd(24);
      switch(rnd(4)) {
      case 0: /* replace a byte */
        buf[at] = tokens[rnd(sizeof(tokens) - 1)];
        break;
      case 1: /* delete a span */
        if(at + span > n)
          span = n - at;
        memmove(buf + at, buf + at + span, n - at - span);
        n -= span;
        break;
      case 2: /* duplicate a span */
        if(at + span > n)
          span = n - at;
        if(n + span < 2 * len + 64) {
          memmove(buf + at + span, buf + at, n - at);
          n += span;
        }
        break;
      default: /* truncate */
        n = at;
        break;
      }
      if(!n)
        break;
    }
    exs_error_clear(&e);
    if(exs_orgfile_load_buffer(buf, n, "mutant.xml", xsd(), 0, &f, &e) == 0) {
      ok++;
      ck_assert_ptr_nonnull(f);
      exs_orgfile_free(f);
      continue;
    }
    ck_assert_ptr_null(f);
    ck_assert_msg(!strncmp(e.message, "mutant.xml", 10), "iteration %d: %s", iter, e.message);
    ck_assert_ptr_null(strchr(e.message, '\n'));
    ck_assert_ptr_null(strstr(e.message, "Env-Canary"));
    for(i = 0; e.message[i]; i++)
      ck_assert_int_ne((unsigned char)e.message[i], 0);
  }
  ck_assert_int_lt(ok, 400); /* the mutations do break things */
  free(buf);
  free(orig);
}
END_TEST

START_TEST(buffer_loader_matches_file_loader)
{
  struct exs_orgfile *a = NULL, *b = NULL;
  struct exs_error e;
  size_t len;
  char *text = tu_read_file(tu_path("fixtures/orgs/contoso.xml"), &len);

  ck_assert_int_eq(exs_orgfile_load(tu_path("fixtures/orgs/contoso.xml"), xsd(), 0, &a, &e), 0);
  ck_assert_int_eq(exs_orgfile_load_buffer(text, len, "contoso.xml", xsd(), 0, &b, &e), 0);
  ck_assert_uint_eq(a->n_mailboxes, b->n_mailboxes);
  ck_assert_mem_eq(a->mailboxes, b->mailboxes, a->n_mailboxes * sizeof(*a->mailboxes));
  ck_assert_mem_eq(a->profiles, b->profiles, sizeof(*a->profiles));
  exs_orgfile_free(a);
  exs_orgfile_free(b);
  free(text);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *orgfile_suite(void)
{
  Suite *s = suite_create("orgfile");
  TCase *tc = tcase_create("core");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, contoso_loads);
  tcase_add_test(tc, contoso_without_the_env_variable);
  tcase_add_loop_test(tc, bad_files_name_file_line_attribute, 0, N(bad_cases));
  tcase_add_test(tc, password_sources_and_warnings);
  tcase_add_test(tc, outgoing_settings);
  tcase_add_test(tc, no_password_in_error_messages);
  tcase_add_test(tc, external_profiles_flag);
  tcase_add_test(tc, schema_path_and_missing_schema);
  tcase_add_test(tc, csv_loads);
  tcase_add_loop_test(tc, csv_errors_name_line_and_column, 0, N(csv_bad));
  tcase_add_test(tc, csv_password_env);
  tcase_add_test(tc, mutated_files_fail_cleanly);
  tcase_add_test(tc, buffer_loader_matches_file_loader);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(orgfile_suite());
}

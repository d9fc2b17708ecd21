/* test_model.c - defaults, validation rules and code tables of the model. */
#include <string.h>

#include "exsync/error.h"
#include "exsync/model.h"
#include "testutil.h"

static void good_profile(struct exs_profile *p)
{
  exs_profile_defaults(p);
  strcpy(p->name, "Exchange");
  strcpy(p->incoming_url, "https://mail.contoso.com/EWS/Exchange.asmx");
}

START_TEST(defaults_are_the_products)
{
  struct exs_org o;
  struct exs_profile p;
  struct exs_mailbox m;
  int w;

  exs_org_defaults(&o);
  ck_assert(o.approve_users && o.approve_queues);
  ck_assert(o.alerts_errors && !o.alerts_warnings && o.alerts_information);
  ck_assert(!o.notify_owners && !o.ignore_internal);
  ck_assert(!o.allow_credentials_non_secure && !o.allow_basic_non_secure && !o.allow_non_ssl);
  ck_assert_int_eq(o.default_incoming, EXS_IN_SSYNC);
  ck_assert_int_eq(o.default_outgoing, EXS_OUT_SSYNC);
  ck_assert_int_eq(o.default_act, EXS_ACT_SSYNC);
  ck_assert_str_eq(o.tracking_prefix, "CRM:");

  exs_profile_defaults(&p);
  ck_assert(!p.autodiscover && p.same_outgoing && !p.impersonation);
  ck_assert(!p.move_undeliverable && p.timeout_enabled);
  ck_assert_int_eq(p.max_connections, 10);
  ck_assert_int_eq(p.timeout_ms, 100000);
  ck_assert_int_eq(p.protocol, EXS_AUTH_AUTODETECT);

  exs_mailbox_defaults(&m);
  ck_assert(m.active && !m.allow_credentials && !m.sync_org_only);
  ck_assert_int_eq(m.track, EXS_TRACK_RESPONSES);
  for(w = 0; w < EXS_WL_COUNT; w++) {
    ck_assert_int_eq(m.status[w], EXS_STATUS_NOT_RUN);
    ck_assert(!m.enabled[w]);
  }
}
END_TEST

/* One profile mutation per case: the field and a word of the rule expected. */
static void p_ok(struct exs_profile *p)
{
  (void)p;
}
static void p_noname(struct exs_profile *p)
{
  p->name[0] = 0;
}
static void p_longname(struct exs_profile *p)
{
  memset(p->name, 'n', sizeof(p->name)); /* 101 chars, unterminated */
}
static void p_name100(struct exs_profile *p)
{
  memset(p->name, 'n', 100);
  p->name[100] = 0;
}
static void p_longdesc(struct exs_profile *p)
{
  memset(p->description, 'd', sizeof(p->description));
}
static void p_desc2000(struct exs_profile *p)
{
  memset(p->description, 'd', 2000);
  p->description[2000] = 0;
}
static void p_longurl(struct exs_profile *p)
{
  memcpy(p->incoming_url, "https://", 8);
  memset(p->incoming_url + 8, 'h', sizeof(p->incoming_url) - 8);
}
static void p_url2084(struct exs_profile *p)
{
  memcpy(p->incoming_url, "https://", 8);
  memset(p->incoming_url + 8, 'h', 2084 - 8);
  p->incoming_url[2084] = 0;
}
static void p_ftp(struct exs_profile *p)
{
  strcpy(p->incoming_url, "ftp://mail.contoso.com/EWS/Exchange.asmx");
}
static void p_nohost(struct exs_profile *p)
{
  strcpy(p->incoming_url, "https:///EWS");
}
static void p_space(struct exs_profile *p)
{
  strcpy(p->incoming_url, "https://mail contoso.com/");
}
static void p_http_ok(struct exs_profile *p)
{
  strcpy(p->incoming_url, "http://mail.contoso.com/EWS/Exchange.asmx");
}
static void p_nourl(struct exs_profile *p)
{
  p->incoming_url[0] = 0;
}
static void p_nourl_ad(struct exs_profile *p)
{
  p->incoming_url[0] = 0;
  p->autodiscover = true;
}
static void p_noout(struct exs_profile *p)
{
  p->same_outgoing = false;
  p->outgoing_url[0] = 0;
}
static void p_badout(struct exs_profile *p)
{
  p->same_outgoing = false;
  strcpy(p->outgoing_url, "mail.contoso.com");
}
static void p_anon(struct exs_profile *p)
{
  p->retrieval = EXS_RETRIEVAL_ANONYMOUS;
}
static void p_retr2(struct exs_profile *p)
{
  p->retrieval = 2;
}
static void p_windows(struct exs_profile *p)
{
  p->retrieval = EXS_RETRIEVAL_WINDOWS;
}
static void p_mc0(struct exs_profile *p)
{
  p->max_connections = 0;
}
static void p_mc1(struct exs_profile *p)
{
  p->max_connections = 1;
}
static void p_mc300(struct exs_profile *p)
{
  p->max_connections = 300;
}
static void p_mc301(struct exs_profile *p)
{
  p->max_connections = 301;
}
static void p_poll_neg(struct exs_profile *p)
{
  p->poll_minutes = -1;
}
static void p_poll1440(struct exs_profile *p)
{
  p->poll_minutes = 1440;
}
static void p_poll1441(struct exs_profile *p)
{
  p->poll_minutes = 1441;
}
static void p_to_big(struct exs_profile *p)
{
  p->timeout_ms = 100001;
}
static void p_to_neg(struct exs_profile *p)
{
  p->timeout_ms = -1;
}
static void p_to0(struct exs_profile *p)
{
  p->timeout_ms = 0;
}
static void p_longuser(struct exs_profile *p)
{
  memset(p->user, 'u', sizeof(p->user));
}
static void p_longpass(struct exs_profile *p)
{
  memset(p->password, 'p', sizeof(p->password));
}
static void p_proto(struct exs_profile *p)
{
  p->protocol = 4;
}
static void p_owner(struct exs_profile *p)
{
  strcpy(p->owner, "not-an-address");
}

static const struct {
  const char *label;
  void (*mutate)(struct exs_profile *);
  const char *field; /* NULL: valid */
  const char *rule_word;
} profile_cases[] = {
    {"ok", p_ok, NULL, NULL},
    {"no name", p_noname, "name", "required"},
    {"name 101", p_longname, "name", "at most 100"},
    {"name 100", p_name100, NULL, NULL},
    {"description 2001", p_longdesc, "description", "at most 2000"},
    {"description 2000", p_desc2000, NULL, NULL},
    {"url 2085", p_longurl, "incoming-url", "at most 2084"},
    {"url 2084", p_url2084, NULL, NULL},
    {"ftp url", p_ftp, "incoming-url", "http"},
    {"url without host", p_nohost, "incoming-url", "URL"},
    {"url with space", p_space, "incoming-url", "URL"},
    {"http url is valid (refused at test time)", p_http_ok, NULL, NULL},
    {"no url, autodiscover no", p_nourl, "incoming-url", "required when autodiscover is no"},
    {"no url, autodiscover yes", p_nourl_ad, NULL, NULL},
    {"no outgoing url: defaults to incoming", p_noout, NULL, NULL},
    {"bad outgoing url", p_badout, "outgoing-url", "URL"},
    {"anonymous", p_anon, "authenticate-using", "not a valid setting"},
    {"retrieval 2", p_retr2, "authenticate-using", "must be"},
    {"windows", p_windows, NULL, NULL},
    {"max-connections 0", p_mc0, "max-connections", "between 1 and 300"},
    {"max-connections 1", p_mc1, NULL, NULL},
    {"max-connections 300", p_mc300, NULL, NULL},
    {"max-connections 301", p_mc301, "max-connections", "between 1 and 300"},
    {"poll -1", p_poll_neg, "poll-minutes", "between 0 and 1440"},
    {"poll 1440", p_poll1440, NULL, NULL},
    {"poll 1441", p_poll1441, "poll-minutes", "between 0 and 1440"},
    {"timeout 100001", p_to_big, "timeout-ms", "between 0 and 100000"},
    {"timeout -1", p_to_neg, "timeout-ms", "between 0 and 100000"},
    {"timeout 0", p_to0, NULL, NULL},
    {"user 251", p_longuser, "user", "at most 250"},
    {"password 251", p_longpass, "password", "at most 250"},
    {"protocol 4", p_proto, "protocol", "must be"},
    {"owner", p_owner, "owner", "email address"},
};

START_TEST(profile_validation)
{
  struct exs_profile p;
  struct exs_invalid inv;
  int rc;

  good_profile(&p);
  profile_cases[_i].mutate(&p);
  memset(&inv, 0, sizeof(inv));
  rc = exs_profile_validate(&p, &inv);
  if(!profile_cases[_i].field) {
    ck_assert_msg(rc == 0, "%s: unexpected %s: %s", profile_cases[_i].label, inv.field, inv.rule);
  }
  else {
    ck_assert_msg(rc == -1, "%s: accepted", profile_cases[_i].label);
    ck_assert_str_eq(inv.field, profile_cases[_i].field);
    ck_assert_msg(strstr(inv.rule, profile_cases[_i].rule_word) != NULL, "%s: rule '%s'",
                  profile_cases[_i].label, inv.rule);
  }
}
END_TEST

START_TEST(same_outgoing_copies_incoming)
{
  struct exs_profile p;
  struct exs_invalid inv;

  /* the outgoing location is its own setting; it defaults to the incoming one */
  good_profile(&p);
  strcpy(p.outgoing_url, "https://other.contoso.com/EWS/Exchange.asmx");
  ck_assert_int_eq(exs_profile_validate(&p, &inv), 0);
  ck_assert_str_eq(p.outgoing_url, "https://other.contoso.com/EWS/Exchange.asmx");
  good_profile(&p);
  p.outgoing_url[0] = '\0';
  ck_assert_int_eq(exs_profile_validate(&p, &inv), 0);
  ck_assert_str_eq(p.outgoing_url, p.incoming_url);

  /* same-outgoing: the outgoing credentials, impersonation and protocol are the incoming ones */
  good_profile(&p);
  strcpy(p.user, "CONTOSO\\svc-crm");
  strcpy(p.password, "pw");
  p.impersonation = true;
  p.protocol = EXS_AUTH_NTLM;
  strcpy(p.out_user, "CONTOSO\\other");
  ck_assert_int_eq(exs_profile_validate(&p, &inv), 0);
  ck_assert_str_eq(p.out_user, "CONTOSO\\svc-crm");
  ck_assert_str_eq(p.out_password, "pw");
  ck_assert(p.out_impersonation);
  ck_assert_int_eq(p.out_protocol, EXS_AUTH_NTLM);

  /* not the same: each its own, checked under its own name */
  p.same_outgoing = false;
  strcpy(p.out_user, "CONTOSO\\sender");
  p.out_protocol = EXS_AUTH_BASIC;
  ck_assert_int_eq(exs_profile_validate(&p, &inv), 0);
  ck_assert_str_eq(p.out_user, "CONTOSO\\sender");
  ck_assert_str_eq(p.user, "CONTOSO\\svc-crm");
  p.out_retrieval = EXS_RETRIEVAL_ANONYMOUS;
  ck_assert_int_eq(exs_profile_validate(&p, &inv), -1);
  ck_assert_str_eq(inv.field, "outgoing-authenticate-using");
}
END_TEST

/* The one access decision: incoming and ACT use the incoming settings,
 * outgoing its own (or the incoming ones with same-outgoing). */
START_TEST(access_per_workload)
{
  struct exs_profile p;
  struct exs_mailbox m;
  struct exs_access a;
  struct exs_error err;
  struct exs_invalid inv;
  char k1[256], k2[256];

  good_profile(&p);
  exs_mailbox_defaults(&m);
  strcpy(m.address, "alice@contoso.com");
  p.retrieval = EXS_RETRIEVAL_PROFILE;
  strcpy(p.user, "svc-in");
  strcpy(p.password, "in-pw");
  p.impersonation = true;
  strcpy(p.outgoing_url, "https://smtp.contoso.com/EWS/Exchange.asmx");
  ck_assert_int_eq(exs_profile_validate(&p, &inv), 0);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_access_for(&p, &m, EXS_WL_OUTGOING, &a, &err), 0);
  ck_assert_str_eq(a.user, "svc-in");
  ck_assert_str_eq(a.url, "https://smtp.contoso.com/EWS/Exchange.asmx");
  ck_assert(a.impersonation);
  ck_assert_int_eq(exs_access_for(&p, &m, EXS_WL_ACT, &a, &err), 0);
  ck_assert_str_eq(a.url, p.incoming_url);
  exs_access_key(&a, NULL, k1, sizeof(k1));
  ck_assert_ptr_null(strstr(k1, "in-pw")); /* the key never holds the password */

  p.same_outgoing = false;
  strcpy(p.out_user, "svc-out");
  strcpy(p.out_password, "out-pw");
  p.out_impersonation = false;
  p.out_protocol = EXS_AUTH_BASIC;
  ck_assert_int_eq(exs_access_for(&p, &m, EXS_WL_OUTGOING, &a, &err), 0);
  ck_assert_str_eq(a.user, "svc-out");
  ck_assert_str_eq(a.password, "out-pw");
  ck_assert(!a.impersonation);
  ck_assert_int_eq(a.auth, EXS_AUTH_BASIC);
  exs_access_key(&a, p.incoming_url, k2, sizeof(k2));
  ck_assert_str_ne(k1, k2);
  ck_assert_int_eq(exs_access_for(&p, &m, EXS_WL_INCOMING, &a, &err), 0);
  ck_assert_str_eq(a.user, "svc-in");

  /* a profile without its outgoing password: CREDENTIALS for outgoing only */
  p.out_password[0] = '\0';
  ck_assert_int_eq(exs_access_for(&p, &m, EXS_WL_OUTGOING, &a, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_CREDENTIALS);
  ck_assert_ptr_nonnull(strstr(err.message, "outgoing"));
  ck_assert_int_eq(exs_access_for(&p, &m, EXS_WL_INCOMING, &a, &err), 0);

  /* the mailbox's own credentials need its permission */
  p.retrieval = EXS_RETRIEVAL_USER;
  ck_assert_int_eq(exs_access_for(&p, &m, EXS_WL_INCOMING, &a, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_MBX_CREDENTIALS);
  /* Windows: the running identity over Negotiate */
  p.retrieval = EXS_RETRIEVAL_WINDOWS;
  ck_assert_int_eq(exs_access_for(&p, &m, EXS_WL_INCOMING, &a, &err), 0);
  ck_assert_str_eq(a.user, "");
  ck_assert_int_eq(a.auth, EXS_AUTH_NEGOTIATE);
}
END_TEST

static const struct {
  const char *address;
  bool valid;
} address_cases[] = {
    {"alice@contoso.com", true},
    {"a.b+tag@sub.contoso.com", true},
    {"svc-crm@localhost", true},
    {"o'brien@contoso.com", true},
    {"", false},
    {"alice", false},
    {"@contoso.com", false},
    {"alice@", false},
    {"alice@@contoso.com", false},
    {"al ice@contoso.com", false},
    {".alice@contoso.com", false},
    {"alice.@contoso.com", false},
    {"al..ice@contoso.com", false},
    {"alice@-contoso.com", false},
    {"alice@contoso-.com", false},
    {"alice@contoso..com", false},
    {"alice@contoso.com.", false},
    {"alice@cont_oso.com", false},
    {"alice@a@b.com", false},
};

START_TEST(address_syntax)
{
  ck_assert_msg(exs_address_valid(address_cases[_i].address) == address_cases[_i].valid, "%s",
                address_cases[_i].address);
}
END_TEST

static void m_ok(struct exs_mailbox *m)
{
  (void)m;
}
static void m_noaddr(struct exs_mailbox *m)
{
  m->address[0] = 0;
}
static void m_badaddr(struct exs_mailbox *m)
{
  strcpy(m->address, "alice.contoso.com");
}
static void m_in4(struct exs_mailbox *m)
{
  m->incoming = 4;
}
static void m_in_fwd(struct exs_mailbox *m)
{
  m->incoming = EXS_IN_FORWARD;
}
static void m_out3(struct exs_mailbox *m)
{
  m->outgoing = 3;
}
static void m_act3(struct exs_mailbox *m)
{
  m->act = 3;
}
static void m_appr4(struct exs_mailbox *m)
{
  m->approval = 4;
}
static void m_track(struct exs_mailbox *m)
{
  m->track = 2;
}
static void m_longname(struct exs_mailbox *m)
{
  memset(m->name, 'n', 201);
  m->name[201] = 0;
}
static void m_longuser(struct exs_mailbox *m)
{
  memset(m->user, 'u', sizeof(m->user));
}
static void m_longpass(struct exs_mailbox *m)
{
  memset(m->password, 'p', sizeof(m->password));
}

static const struct {
  const char *label;
  void (*mutate)(struct exs_mailbox *);
  const char *field;
} mailbox_cases[] = {
    {"ok", m_ok, NULL},
    {"no address", m_noaddr, "address"},
    {"bad address", m_badaddr, "address"},
    {"incoming 4", m_in4, "incoming"},
    {"incoming forward", m_in_fwd, NULL},
    {"outgoing 3", m_out3, "outgoing"},
    {"act 3", m_act3, "act"},
    {"approval 4", m_appr4, "approval"},
    {"track 2", m_track, "track"},
    {"name 201", m_longname, "name"},
    {"user 251", m_longuser, "user"},
    {"password 251", m_longpass, "password"},
};

START_TEST(mailbox_validation)
{
  struct exs_mailbox m;
  struct exs_invalid inv;
  int rc;

  exs_mailbox_defaults(&m);
  strcpy(m.address, "alice@contoso.com");
  mailbox_cases[_i].mutate(&m);
  memset(&inv, 0, sizeof(inv));
  rc = exs_mailbox_validate(&m, &inv);
  if(!mailbox_cases[_i].field)
    ck_assert_msg(rc == 0, "%s: %s %s", mailbox_cases[_i].label, inv.field, inv.rule);
  else {
    ck_assert_msg(rc == -1, "%s accepted", mailbox_cases[_i].label);
    ck_assert_str_eq(inv.field, mailbox_cases[_i].field);
    ck_assert(inv.rule[0] != 0);
  }
}
END_TEST

START_TEST(org_validation)
{
  struct exs_org o;
  struct exs_invalid inv;

  exs_org_defaults(&o);
  ck_assert_int_eq(exs_org_validate(&o, &inv), 0);
  o.default_act = 5;
  ck_assert_int_eq(exs_org_validate(&o, &inv), -1);
  ck_assert_str_eq(inv.field, "default-act");
}
END_TEST

/* Every code of every table round-trips, and the product's numbers hold. */
static const struct {
  const char *(*name)(int);
  int (*parse)(const char *);
  int code;
  const char *spelled;
} code_cases[] = {
    {exs_retrieval_name, exs_retrieval_parse, 0, "user"},
    {exs_retrieval_name, exs_retrieval_parse, 1, "profile"},
    {exs_retrieval_name, exs_retrieval_parse, 3, "windows"},
    {exs_retrieval_name, exs_retrieval_parse, 4, "anonymous"},
    {exs_protocol_name, exs_protocol_parse, 0, "autodetect"},
    {exs_protocol_name, exs_protocol_parse, 1, "negotiate"},
    {exs_protocol_name, exs_protocol_parse, 2, "ntlm"},
    {exs_protocol_name, exs_protocol_parse, 3, "basic"},
    {exs_incoming_name, exs_incoming_parse, 0, "none"},
    {exs_incoming_name, exs_incoming_parse, 1, "outlook"},
    {exs_incoming_name, exs_incoming_parse, 2, "ssync"},
    {exs_incoming_name, exs_incoming_parse, 3, "forward"},
    {exs_outgoing_name, exs_outgoing_parse, 0, "none"},
    {exs_outgoing_name, exs_outgoing_parse, 1, "outlook"},
    {exs_outgoing_name, exs_outgoing_parse, 2, "ssync"},
    {exs_act_name, exs_act_parse, 0, "outlook"},
    {exs_act_name, exs_act_parse, 1, "ssync"},
    {exs_act_name, exs_act_parse, 2, "none"},
    {exs_approval_name, exs_approval_parse, 0, "empty"},
    {exs_approval_name, exs_approval_parse, 1, "approved"},
    {exs_approval_name, exs_approval_parse, 2, "pending"},
    {exs_approval_name, exs_approval_parse, 3, "rejected"},
    {exs_status_name, exs_status_parse, 0, "Not Run"},
    {exs_status_name, exs_status_parse, 1, "Success"},
    {exs_status_name, exs_status_parse, 2, "Failure"},
    {exs_track_name, exs_track_parse, 0, "responses"},
    {exs_track_name, exs_track_parse, 1, "all"},
};

START_TEST(code_tables)
{
  ck_assert_str_eq(code_cases[_i].name(code_cases[_i].code), code_cases[_i].spelled);
  ck_assert_int_eq(code_cases[_i].parse(code_cases[_i].spelled), code_cases[_i].code);
}
END_TEST

START_TEST(code_tables_unknown)
{
  ck_assert_int_eq(exs_retrieval_parse("oauth"), -1);
  ck_assert_int_eq(exs_incoming_parse(NULL), -1);
  ck_assert_int_eq(exs_act_parse("SSYNC"), -1);
  ck_assert_str_eq(exs_retrieval_name(2), "unknown");
  ck_assert_str_eq(exs_workload_name(EXS_WL_ACT), "act");
  ck_assert_int_eq(exs_bool_parse("yes"), 1);
  ck_assert_int_eq(exs_bool_parse("no"), 0);
  ck_assert_int_eq(exs_bool_parse("maybe"), -1);
}
END_TEST

START_TEST(uses_ssync_per_workload)
{
  struct exs_mailbox m;

  exs_mailbox_defaults(&m);
  m.incoming = EXS_IN_SSYNC;
  m.outgoing = EXS_OUT_NONE;
  m.act = EXS_ACT_OUTLOOK; /* 0 is Outlook for ACT, not none */
  ck_assert(exs_mailbox_uses_ssync(&m, EXS_WL_INCOMING));
  ck_assert(!exs_mailbox_uses_ssync(&m, EXS_WL_OUTGOING));
  ck_assert(!exs_mailbox_uses_ssync(&m, EXS_WL_ACT));
  m.act = 1;
  ck_assert(exs_mailbox_uses_ssync(&m, EXS_WL_ACT));
  m.incoming = EXS_IN_FORWARD;
  ck_assert(!exs_mailbox_uses_ssync(&m, EXS_WL_INCOMING));
}
END_TEST

START_TEST(wipe_clears_passwords)
{
  struct exs_profile p;
  struct exs_mailbox m;
  size_t i;

  good_profile(&p);
  exs_mailbox_defaults(&m);
  strcpy(p.password, "secret");
  strcpy(m.password, "secret");
  exs_profile_wipe(&p);
  exs_mailbox_wipe(&m);
  for(i = 0; i < sizeof(p.password); i++)
    ck_assert_int_eq(p.password[i], 0);
  for(i = 0; i < sizeof(m.password); i++)
    ck_assert_int_eq(m.password[i], 0);
  exs_profile_wipe(NULL);
  exs_mailbox_wipe(NULL);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *model_suite(void)
{
  Suite *s = suite_create("model");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, defaults_are_the_products);
  tcase_add_loop_test(tc, profile_validation, 0, N(profile_cases));
  tcase_add_test(tc, same_outgoing_copies_incoming);
  tcase_add_test(tc, access_per_workload);
  tcase_add_loop_test(tc, address_syntax, 0, N(address_cases));
  tcase_add_loop_test(tc, mailbox_validation, 0, N(mailbox_cases));
  tcase_add_test(tc, org_validation);
  tcase_add_loop_test(tc, code_tables, 0, N(code_cases));
  tcase_add_test(tc, code_tables_unknown);
  tcase_add_test(tc, uses_ssync_per_workload);
  tcase_add_test(tc, wipe_clears_passwords);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(model_suite());
}

/* test_record.c - the normaliser, the recording format and its loader
 * errors, `exsync record` of the contoso world and its replay (every demo
 * mailbox gives the same report), and the secret canary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exsync-diag/emu.h"
#include "exsync-emulator/emulator.h"
#include "exsync-emulator/replay.h"
#include "exsync/normalize.h"
#include "exsync-diag/recording.h"
#include "testutil.h"

#define CANARY_PASSWORD "Canary-P@ss w0rd!"
#define CANARY_COOKIE "exsyncCanaryCookie4711"

static char *norm_text(struct exs_normalizer *n, const char *s)
{
  struct exs_buf b;

  exs_buf_init(&b, 1 << 20);
  ck_assert_int_eq(exs_normalize_text(n, s, strlen(s), &b), 0);
  return exs_buf_steal(&b);
}

static char *norm_headers(struct exs_normalizer *n, const char *s)
{
  struct exs_buf b;

  exs_buf_init(&b, 1 << 20);
  ck_assert_int_eq(exs_normalize_headers(n, s, strlen(s), &b), 0);
  return exs_buf_steal(&b);
}

/* ---- normaliser ---- */

START_TEST(normalize_headers)
{
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"Authorization: Basic dXNlcjpwdw==\r\n",
       "Authorization: Basic {{secret:authorization}}\r\n"},
      {"authorization: NTLM TlRMTVNTUAADAAAA\n", "authorization: NTLM {{secret:authorization}}\n"},
      {"Proxy-Authorization: Negotiate YII=\n",
       "Proxy-Authorization: Negotiate {{secret:authorization}}\n"},
      {"WWW-Authenticate: NTLM TlRMTVNTUAACAAAA\n", "WWW-Authenticate: NTLM {{secret:ntlm}}\n"},
      {"WWW-Authenticate: Negotiate oYG2MIGz\n",
       "WWW-Authenticate: Negotiate {{secret:negotiate}}\n"},
      {"WWW-Authenticate: NTLM\nWWW-Authenticate: Basic realm=\"x\"\n",
       "WWW-Authenticate: NTLM\nWWW-Authenticate: Basic realm=\"x\"\n"},
      {"Cookie: a=b; c=d\n", "Cookie: {{secret:cookie}}\n"},
      {"Set-Cookie: X-BackEndCookie=abc; path=/\n", "Set-Cookie: {{secret:cookie}}\n"},
      {"Content-Type: text/xml\n", "Content-Type: text/xml\n"},
  };
  struct exs_normalizer *n = exs_normalizer_new();
  size_t i;

  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *o = norm_headers(n, cases[i].in);
    ck_assert_msg(!strcmp(o, cases[i].out), "case %zu: '%s'", i, o);
    free(o);
  }
  exs_normalizer_free(n);
}
END_TEST

START_TEST(normalize_secret_forms)
{
  struct exs_normalizer *n = exs_normalizer_new();
  static const char *const forms[] = {
      "plain: s3cr3t-pw!", "hex: 7333637233742d707721", "HEX: 7333637233742D707721",
      "url: s3cr3t-pw%21", "b64: czNjcjN0LXB3IQ==",     "b64 inside: dXNlcjpzM2NyM3QtcHch"};
  size_t i;

  exs_normalizer_add_secret(n, "s3cr3t-pw!");
  for(i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    char *o = norm_text(n, forms[i]);
    ck_assert_msg(!strstr(o, "s3cr3t") && !strstr(o, "7333637233742d707721") &&
                      !strstr(o, "7333637233742D707721") && !strstr(o, "czNjcjN0LXB3") &&
                      !strstr(o, "M2NyM3QtcHch"),
                  "case %zu leaks: '%s'", i, o);
    free(o);
  }
  exs_normalizer_free(n);
}
END_TEST

START_TEST(normalize_rules_and_anonymize)
{
  struct exs_normalizer *n = exs_normalizer_new();
  char err[256];
  char *a, *b;

  ck_assert_int_eq(exs_normalizer_add_rule(n, "no-equals-sign", err, sizeof(err)), -1);
  ck_assert_int_eq(exs_normalizer_add_rule(n, "([=", err, sizeof(err)), -1);
  ck_assert_int_eq(exs_normalizer_add_rule(n, "ticket-[0-9]+=TICKET", err, sizeof(err)), 0);
  ck_assert_uint_eq(exs_normalizer_rule_count(n), 1);
  exs_normalizer_set_anonymize(n, true);
  exs_normalizer_learn_host(n, "mail.contoso.com");
  a = norm_text(n, "ticket-42 alice@contoso.com at https://mail.contoso.com/EWS and "
                   "autodiscover.contoso.com, bob@contoso.com.");
  ck_assert_msg(!strstr(a, "contoso") && !strstr(a, "alice") && !strstr(a, "ticket-42"), "%s", a);
  ck_assert_msg(strstr(a, "TICKET") && strstr(a, "autodiscover.anon1.invalid") &&
                    strstr(a, "mail.anon1.invalid/EWS"),
                "%s", a);
  /* same input, same placeholder; placeholders pass through */
  b = norm_text(n, "ALICE@contoso.com alice@contoso.com");
  ck_assert_msg(strstr(b, "user1@anon1.invalid user1@anon1.invalid") != NULL ||
                    strstr(b, "user3@anon1.invalid user1@anon1.invalid") != NULL,
                "%s", b);
  free(b);
  b = norm_text(n, a);
  ck_assert_str_eq(a, b);
  free(a);
  free(b);
  exs_normalizer_free(n);
}
END_TEST

/* ---- loader ---- */

static const char good_head[] =
    "<?xml version=\"1.0\"?>\n"
    "<recording xmlns=\"urn:exsync:recording:1\" version=\"1\">\n"
    "  <command><arg>autodiscover</arg><arg>a@contoso.com</arg></command>\n";
static const char good_tail[] = "  <expect exit=\"0\"><report>ok\n</report></expect>\n"
                                "</recording>\n";

static int load_str(const char *text, char *err, size_t errlen, struct diag_recording **r)
{
  return diag_recording_load_mem(text, strlen(text), "case.xml",
                                 tu_path("fixtures/schema/recording.xsd"), r, err, errlen);
}

START_TEST(loader_errors)
{
  static const struct {
    const char *body; /* between head and tail; NULL: the whole file is `raw` */
    const char *raw;
    const char *want;
  } cases[] = {
      {NULL, "", "case.xml:1: empty file"},
      {NULL,
       "<?xml version=\"1.0\"?>\n<recording xmlns=\"urn:exsync:recording:1\" version=\"1\">\n"
       "  <command><arg>x</arg>",
       "case.xml:"},
      {NULL, "<recording xmlns=\"urn:other\"/>", "not a recording"},
      {NULL,
       "<?xml version=\"1.0\"?><recording xmlns=\"urn:exsync:recording:1\" version=\"1\">"
       "<expect exit=\"0\"><report/></expect></recording>",
       "case.xml:1"},
      {"  <exchange method=\"POST\" url=\"http://h/EWS/Exchange.asmx\" operation=\"Frobnicate\">"
       "<response status=\"200\"/></exchange>\n",
       NULL, "case.xml:4"},
      {"  <exchange method=\"POST\" url=\"http://h/EWS/Exchange.asmx\"><request><body>"
       "&lt;s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"&gt;&lt;s:Body&gt;"
       "&lt;Frobnicate/&gt;&lt;/s:Body&gt;&lt;/s:Envelope&gt;</body></request>"
       "<response status=\"200\"/></exchange>\n",
       NULL, "unknown operation 'Frobnicate'"},
      {"  <exchange method=\"POST\" url=\"http://h/EWS/Exchange.asmx\"><request><body>"
       "&lt;not-closed</body></request><response status=\"200\"/></exchange>\n",
       NULL, "not well-formed"},
      {"  <exchange method=\"POST\" url=\"http://h/x\"><response status=\"200\">"
       "<body encoding=\"base64\">!!!</body></response></exchange>\n",
       NULL, "base64"},
  };
  char err[1024];
  size_t i;

  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct diag_recording *r = NULL;
    char *text;
    size_t n;
    if(cases[i].raw) {
      text = strdup(cases[i].raw);
    }
    else {
      n = strlen(good_head) + strlen(cases[i].body) + strlen(good_tail) + 1;
      text = malloc(n);
      snprintf(text, n, "%s%s%s", good_head, cases[i].body, good_tail);
    }
    err[0] = '\0';
    ck_assert_msg(load_str(text, err, sizeof(err), &r) == -1, "case %zu loaded", i);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err, cases[i].want) != NULL, "case %zu: '%s' lacks '%s'", i, err,
                  cases[i].want);
    free(text);
  }
}
END_TEST

START_TEST(loader_huge_body)
{
  size_t big = DIAG_REC_MAX_BODY + 4096;
  struct exs_buf b;
  struct diag_recording *r = NULL;
  char err[512];

  exs_buf_init(&b, big + 4096);
  ck_assert_int_eq(exs_buf_adds(&b, good_head), 0);
  ck_assert_int_eq(exs_buf_adds(&b, "  <exchange method=\"GET\" url=\"http://h/x\">"
                                    "<response status=\"200\"><body>"),
                   0);
  while(b.len < big)
    ck_assert_int_eq(exs_buf_adds(&b, "0123456789abcdef0123456789abcdef"), 0);
  ck_assert_int_eq(exs_buf_adds(&b, "</body></response></exchange>\n"), 0);
  ck_assert_int_eq(exs_buf_adds(&b, good_tail), 0);
  ck_assert_int_eq(diag_recording_load_mem(b.data, b.len, "big.xml", NULL, &r, err, sizeof(err)),
                   -1);
  ck_assert_msg(strstr(err, "big.xml:4: body of") && strstr(err, "over the limit"), "%s", err);
  exs_buf_free(&b);
}
END_TEST

START_TEST(roundtrip)
{
  struct diag_recording *r = diag_recording_new(), *back = NULL;
  struct diag_rec_exchange x;
  struct exs_buf out;
  char err[512];
  static const char bin[] = {'a', 0x01, (char)0xff, 'b'};

  ck_assert_ptr_nonnull(r);
  r->argv[r->argc++] = strdup("autodiscover");
  r->argv[r->argc++] = strdup("a&b@contoso.com");
  r->frozen = 1790000000;
  memset(&x, 0, sizeof(x));
  x.method = "POST";
  x.url = "https://autodiscover.contoso.com/autodiscover/autodiscover.xml";
  x.req_headers = "Content-Type: text/xml\n";
  x.req_body = "<Autodiscover xmlns=\"urn:x\"><Request><EMailAddress>A@contoso.com"
               "</EMailAddress></Request></Autodiscover>\r\n";
  x.req_body_len = strlen(x.req_body);
  x.status = 200;
  x.resp_headers = "Content-Type: text/xml\n";
  x.resp_body = (char *)bin;
  x.resp_body_len = sizeof(bin);
  x.elapsed_ms = 12;
  ck_assert_int_eq(diag_recording_add(r, &x), 0);
  x.status = 0;
  x.failure = "CONNECT";
  x.req_body = NULL;
  x.req_body_len = 0;
  ck_assert_int_eq(diag_recording_add(r, &x), 0);
  r->report = strdup("line 1\n\tline <2> & \"3\"\r\n");
  r->exit_code = 1;
  exs_buf_init(&out, 1 << 20);
  ck_assert_int_eq(diag_recording_write(r, &out), 0);
  ck_assert_msg(diag_recording_load_mem(out.data, out.len, "rt.xml",
                                        tu_path("fixtures/schema/recording.xsd"), &back, err,
                                        sizeof(err)) == 0,
                "%s\n%s", err, out.data);
  ck_assert_uint_eq(back->n_x, 2);
  ck_assert_str_eq(back->argv[1], "a&b@contoso.com");
  ck_assert_str_eq(back->x[0].operation, "Autodiscover");
  ck_assert_str_eq(back->x[0].keys, "mailbox=a@contoso.com");
  ck_assert_str_eq(back->x[0].req_body, x.req_body ? x.req_body : back->x[0].req_body);
  ck_assert_uint_eq(back->x[0].resp_body_len, sizeof(bin));
  ck_assert_int_eq(memcmp(back->x[0].resp_body, bin, sizeof(bin)), 0);
  ck_assert_int_eq(back->x[1].status, 0);
  ck_assert_str_eq(back->x[1].failure, "CONNECT");
  ck_assert_str_eq(back->report, r->report);
  ck_assert_int_eq(back->exit_code, 1);
  ck_assert_int_eq((int)back->frozen, 1790000000);
  exs_buf_free(&out);
  diag_recording_free(r);
  diag_recording_free(back);
}
END_TEST

/* ---- record the contoso world, replay it ---- */

static char *org_file(const char *dir, const char *protocol)
{
  size_t len;
  char *src = tu_read_file(tu_path("fixtures/orgs/contoso.xml"), &len);
  struct exs_buf b;
  char *p = src, path[512];
  FILE *f;

  exs_buf_init(&b, 1 << 20);
  /* plain HTTP allowed explicitly, and the chosen protocol */
  while(*p) {
    static const struct {
      const char *from, *to;
    } subst[] = {{"https://", "http://"},
                 {"allow-credentials-non-secure=\"no\"", "allow-credentials-non-secure=\"yes\""},
                 {"allow-basic-non-secure=\"no\"", "allow-basic-non-secure=\"yes\""},
                 {"allow-non-ssl=\"no\"", "allow-non-ssl=\"yes\""},
                 {"protocol=\"autodetect\"", NULL}};
    size_t k;
    bool hit = false;
    for(k = 0; k < sizeof(subst) / sizeof(subst[0]); k++) {
      size_t fl = strlen(subst[k].from);
      if(!strncmp(p, subst[k].from, fl)) {
        if(subst[k].to)
          exs_buf_adds(&b, subst[k].to);
        else
          exs_buf_addf(&b, "protocol=\"%s\"", protocol);
        p += fl;
        hit = true;
        break;
      }
    }
    if(!hit)
      exs_buf_add(&b, p++, 1);
  }
  snprintf(path, sizeof(path), "%s/org.xml", dir);
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fwrite(b.data, 1, b.len, f);
  fclose(f);
  exs_buf_free(&b);
  free(src);
  return strdup(path);
}

static int run(const char *const *args)
{
  char *argv[64];
  int argc = 0;

  argv[argc++] = "exsync";
  while(args[argc - 1] && argc < 63) {
    argv[argc] = (char *)args[argc - 1];
    argc++;
  }
  argv[argc] = NULL;
  return diag_emu_main(argc, argv);
}

START_TEST(record_and_replay_contoso)
{
  char dir[] = "/tmp/exsync-test-record-XXXXXX";
  char err[512], bound[64], ct_mail[128], ct_auto[128], rec[600], anon[600];
  struct emu *emu = emu_new();
  struct diag_recording *r = NULL;
  char *org;
  int port, rc;
  size_t i;
  static const char *const demo[] = {"alice", "bob",   "carol", "dave", "ghost", "erin",
                                     "frank", "grace", "henry", "ivan", "judy"};

  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_msg(
      emu_load_scenario(emu, tu_path("fixtures/scenarios/contoso.xml"), err, sizeof(err)) == 0,
      "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(ct_mail, sizeof(ct_mail), "mail.contoso.com:80:127.0.0.1:%d", port);
  snprintf(ct_auto, sizeof(ct_auto), "autodiscover.contoso.com:80:127.0.0.1:%d", port);
  org = org_file(dir, "basic");
  setenv("EXSYNC_PROFILE_PASSWORD", "svc-pw", 1);
  snprintf(rec, sizeof(rec), "%s/contoso.xml", dir);
  {
    const char *args[] = {"--connect-to",
                          ct_mail,
                          "--connect-to",
                          ct_auto,
                          "--format",
                          "json",
                          "record",
                          "--out",
                          rec,
                          "--",
                          "test-enable",
                          "--config",
                          org,
                          "--delivery-timeout",
                          "5",
                          NULL};
    rc = run(args);
    ck_assert_msg(rc == 1, "record exit %d", rc);
  }
  /* the same world recorded anonymised, with an extra scrub rule */
  snprintf(anon, sizeof(anon), "%s/contoso-anon.xml", dir);
  {
    const char *args[] = {"--connect-to",
                          ct_mail,
                          "record",
                          "--anonymize",
                          "--scrub",
                          "V2017_07_11=EXCHANGE-VERSION",
                          "--out",
                          anon,
                          "--",
                          "test-enable",
                          "--config",
                          org,
                          "--mailbox",
                          "alice@contoso.com",
                          "--mailbox",
                          "dave@contoso.com",
                          "--delivery-timeout",
                          "5",
                          NULL};
    rc = run(args);
    ck_assert_msg(rc == 1, "record --anonymize exit %d", rc);
  }
  emu_stop(emu);
  emu_free(emu);
  unsetenv("EXSYNC_PROFILE_PASSWORD");
  {
    size_t len;
    char *text = tu_read_file(anon, &len);
    ck_assert_msg(!strstr(text, "contoso.com") && !strstr(text, "Version=\"V2017_07_11\""),
                  "the anonymised recording names contoso.com or the version");
    ck_assert_msg(strstr(text, "user1@anon1.invalid") != NULL, "no placeholder");
    free(text);
  }
  {
    const char *args[] = {"replay", anon, NULL};
    rc = run(args);
    ck_assert_msg(rc == 0, "replay of the anonymised recording: exit %d", rc);
  }
  unlink(anon);
  ck_assert_msg(
      diag_recording_load(rec, tu_path("fixtures/schema/recording.xsd"), &r, err, sizeof(err)) == 0,
      "%s", err);
  ck_assert_int_eq(r->exit_code, 1);
  ck_assert(r->frozen != 0);
  ck_assert_uint_gt(r->n_x, 20);
  for(i = 0; i < sizeof(demo) / sizeof(demo[0]); i++) {
    char addr[64];
    snprintf(addr, sizeof(addr), "\"address\": \"%s@contoso.com\"", demo[i]);
    ck_assert_msg(strstr(r->report, addr) != NULL, "%s missing from the report", demo[i]);
  }
  diag_recording_free(r);
  /* the emulator is gone: the replay is offline and gives the same report */
  {
    const char *args[] = {"replay", rec, NULL};
    rc = run(args);
    ck_assert_msg(rc == 0, "replay exit %d", rc);
  }
  unlink(rec);
  unlink(org);
  free(org);
  rmdir(dir);
}
END_TEST

/* ---- canary: no secret of the run survives in the recording ---- */

static const char canary_body_tmpl[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
    "<m:GetFolderResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\""
    " xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>"
    "<m:GetFolderResponseMessage ResponseClass=\"Error\"><m:MessageText>echo %s %s %s %s"
    "</m:MessageText><m:ResponseCode>ErrorAccessDenied</m:ResponseCode>"
    "</m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse></s:Body>"
    "</s:Envelope>";

static char canary_body[4096];

static void canary_answer(void *ctx, const struct emu_replay_request *req,
                          struct emu_replay_answer *ans)
{
  (void)ctx;
  (void)req;
  ans->status = 200;
  ans->headers = "Content-Type: text/xml; charset=utf-8\n"
                 "Set-Cookie: X-BackEndCookie=" CANARY_COOKIE "; path=/\n";
  ans->body = canary_body;
  ans->body_len = strlen(canary_body);
}

static void encodings(const char *s, char out[][256], size_t *n)
{
  struct exs_buf b;
  size_t i, len = strlen(s);
  int k;

  *n = 0;
  snprintf(out[(*n)++], 256, "%s", s);
  for(i = 0; i < len; i++)
    snprintf(out[*n] + 2 * i, 3, "%02x", (unsigned char)s[i]);
  (*n)++;
  for(i = 0; i < len; i++)
    snprintf(out[*n] + 2 * i, 3, "%02X", (unsigned char)s[i]);
  (*n)++;
  {
    size_t o = 0;
    for(i = 0; i < len; i++) {
      unsigned char c = (unsigned char)s[i];
      if((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        out[*n][o++] = (char)c;
      else
        o += (size_t)snprintf(out[*n] + o, 4, "%%%02X", c);
    }
    out[*n][o] = '\0';
    (*n)++;
  }
  /* base64 at every alignment: the characters that depend on s alone */
  for(k = 0; k < 3; k++) {
    char raw[300];
    size_t start = ((size_t)k * 8 + 5) / 6, end = ((size_t)k + len) * 8 / 6;
    memset(raw, 0, sizeof(raw));
    memcpy(raw + k, s, len);
    exs_buf_init(&b, 1024);
    exs_base64_encode(&b, (const unsigned char *)raw, len + (size_t)k);
    snprintf(out[(*n)++], 256, "%.*s", (int)(end - start), b.data + start);
    exs_buf_free(&b);
  }
}

static void assert_clean(const char *text, const char *secret, const char *what)
{
  char forms[8][256];
  size_t n, i;

  encodings(secret, forms, &n);
  for(i = 0; i < n; i++)
    ck_assert_msg(strstr(text, forms[i]) == NULL, "%s leaks in form %zu: %s", what, i, forms[i]);
}

static void canary_run(const char *protocol, const char *dir, bool emulator)
{
  char err[512], ct[128], rec[600], path[600];
  struct emu_replay *srv = NULL;
  struct emu *emu = NULL;
  int plain = 0, tls = 0, rc;
  char *text, *org;
  size_t len;
  FILE *f;

  /* the answers echo the password in every encoding (a server's error
   * text quoting a request), plus a cookie */
  {
    char forms[8][256];
    size_t n;
    encodings(CANARY_PASSWORD, forms, &n);
    snprintf(canary_body, sizeof(canary_body), canary_body_tmpl, forms[0], forms[1], forms[3],
             forms[4]);
  }
  if(emulator) {
    char bound[64];
    emu = emu_new();
    ck_assert_int_eq(emu_add_user(emu, "svc-crm", CANARY_PASSWORD, "contoso.com", err, sizeof(err)),
                     0);
    ck_assert_int_eq(emu_add_user(emu, "alice", "alice-pw", "contoso.com", err, sizeof(err)), 0);
    ck_assert_int_eq(emu_add_impersonator(emu, "svc-crm", err, sizeof(err)), 0);
    plain = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
    ck_assert_msg(plain > 0, "%s", err);
    ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  }
  else {
    srv = emu_replay_new(canary_answer, NULL, NULL, 0);
    ck_assert_ptr_nonnull(srv);
    ck_assert_msg(emu_replay_start(srv, &plain, &tls, err, sizeof(err)) == 0, "%s", err);
  }
  snprintf(ct, sizeof(ct), "mail.contoso.com:80:127.0.0.1:%d", plain);
  snprintf(path, sizeof(path), "%s/canary-org.xml", dir);
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "<?xml version=\"1.0\"?>\n<org xmlns=\"urn:exsync:org:1\" "
          "id=\"6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10\">\n"
          "  <settings allow-credentials-non-secure=\"yes\" allow-basic-non-secure=\"yes\" "
          "allow-non-ssl=\"yes\" default-profile=\"Exchange\"/>\n"
          "  <profile name=\"Exchange\" autodiscover=\"no\" "
          "incoming-url=\"http://mail.contoso.com/EWS/Exchange.asmx\" "
          "authenticate-using=\"profile\" impersonation=\"yes\" protocol=\"%s\" "
          "user=\"CONTOSO\\svc-crm\" password-env=\"EXSYNC_CANARY_PW\"/>\n"
          "  <mailbox address=\"alice@contoso.com\" name=\"Alice\" kind=\"user\" "
          "profile=\"Exchange\" incoming=\"ssync\" outgoing=\"none\" act=\"outlook\" "
          "approval=\"approved\"/>\n</org>\n",
          protocol);
  fclose(f);
  setenv("EXSYNC_CANARY_PW", CANARY_PASSWORD, 1);
  snprintf(rec, sizeof(rec), "%s/canary-%s.xml", dir, protocol);
  {
    const char *args[] = {"--connect-to", ct,         "record", "--out", rec, "--",
                          "test-enable",  "--config", path,     NULL};
    rc = run(args);
    ck_assert_msg(rc == 0 || rc == 1, "record exit %d", rc);
  }
  unsetenv("EXSYNC_CANARY_PW");
  emu_replay_free(srv);
  if(emu) {
    emu_stop(emu);
    emu_free(emu);
  }
  text = tu_read_file(rec, &len);
  ck_assert_msg(strstr(text, "<exchange") != NULL, "nothing recorded:\n%s", text);
  ck_assert_msg(strstr(text, "Authorization: ") != NULL, "no authenticated request:\n%s", text);
  assert_clean(text, CANARY_PASSWORD, protocol);
  assert_clean(text, CANARY_COOKIE, "cookie");
  assert_clean(text, "CONTOSO\\svc-crm:" CANARY_PASSWORD, "basic credentials");
  ck_assert_msg(strstr(text, "TlRMTVNTUAAD") == NULL, "an NTLM AUTHENTICATE blob leaks");
  ck_assert_msg(strstr(text, "TlRMTVNTUAAC") == NULL, "an NTLM CHALLENGE blob leaks");
  if(!strcmp(protocol, "ntlm"))
    ck_assert_msg(strstr(text, "Authorization: NTLM {{secret:authorization}}") != NULL,
                  "no NTLM leg recorded:\n%s", text);
  free(text);
  org = path;
  unlink(org);
  unlink(rec);
}

START_TEST(canary_ntlm_cookie)
{
  char dir[] = "/tmp/exsync-test-canary-XXXXXX";

  ck_assert_ptr_nonnull(mkdtemp(dir));
  /* the replay server answers the NTLM handshake: a full NEGOTIATE,
   * CHALLENGE, AUTHENTICATE exchange made with the known password */
  canary_run("ntlm", dir, false);
  canary_run("basic", dir, false);
  rmdir(dir);
}
END_TEST

START_TEST(canary_emulator_basic)
{
  char dir[] = "/tmp/exsync-test-canary-XXXXXX";

  ck_assert_ptr_nonnull(mkdtemp(dir));
  canary_run("basic", dir, true);
  rmdir(dir);
}
END_TEST

/* new_episodes: exchanges missing from a recording are fetched from the
 * real server (the emulator here) and added; offline replay then passes */
START_TEST(new_episodes_fills_gaps)
{
  char dir[] = "/tmp/exsync-test-episodes-XXXXXX";
  char err[512], bound[64], ct_mail[128], rec[600];
  struct emu *emu = emu_new();
  struct diag_recording *r = NULL;
  char *org, *text, *cut;
  const char *a, *b;
  size_t len, n_before;
  int port, rc;
  FILE *f;

  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_msg(
      emu_load_scenario(emu, tu_path("fixtures/scenarios/contoso.xml"), err, sizeof(err)) == 0,
      "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(ct_mail, sizeof(ct_mail), "mail.contoso.com:80:127.0.0.1:%d", port);
  org = org_file(dir, "basic");
  setenv("EXSYNC_PROFILE_PASSWORD", "svc-pw", 1);
  snprintf(rec, sizeof(rec), "%s/alice.xml", dir);
  {
    const char *args[] = {"--connect-to",
                          ct_mail,
                          "record",
                          "--out",
                          rec,
                          "--",
                          "test-enable",
                          "--config",
                          org,
                          "--mailbox",
                          "alice@contoso.com",
                          "--delivery-timeout",
                          "5",
                          NULL};
    ck_assert_int_eq(run(args), 0);
  }
  ck_assert_int_eq(diag_recording_load(rec, NULL, &r, err, sizeof(err)), 0);
  n_before = r->n_x;
  diag_recording_free(r);
  /* cut the third exchange out */
  text = tu_read_file(rec, &len);
  a = strstr(text, "<exchange ");
  a = a ? strstr(a + 1, "<exchange ") : NULL;
  a = a ? strstr(a + 1, "<exchange ") : NULL;
  b = a ? strstr(a, "</exchange>") : NULL;
  ck_assert_ptr_nonnull(b);
  cut = calloc(1, len + 1);
  memcpy(cut, text, (size_t)(a - text));
  strcat(cut, b + strlen("</exchange>"));
  f = fopen(rec, "w");
  fputs(cut, f);
  fclose(f);
  free(text);
  free(cut);
  {
    const char *args[] = {"replay", rec, NULL};
    ck_assert_int_eq(run(args), 1); /* offline: a request has no answer */
  }
  {
    const char *args[] = {"--connect-to",
                          ct_mail,
                          "replay",
                          rec,
                          "--mode",
                          "new_episodes",
                          "--password-env",
                          "EXSYNC_PROFILE_PASSWORD",
                          NULL};
    rc = run(args);
    ck_assert_msg(rc == 0, "new_episodes exit %d", rc);
  }
  emu_stop(emu);
  emu_free(emu);
  unsetenv("EXSYNC_PROFILE_PASSWORD");
  ck_assert_int_eq(diag_recording_load(rec, NULL, &r, err, sizeof(err)), 0);
  ck_assert_uint_eq(r->n_x, n_before);
  diag_recording_free(r);
  text = tu_read_file(rec, &len);
  assert_clean(text, "svc-pw", "new_episodes");
  free(text);
  {
    const char *args[] = {"replay", rec, NULL};
    ck_assert_int_eq(run(args), 0);
  }
  unlink(rec);
  unlink(org);
  free(org);
  rmdir(dir);
}
END_TEST

/* ---- hostile recordings: replay runs only what a recording may hold ---- */

/* Run `exsync replay path` with stderr captured into err. */
static int replay_captured(const char *path, char *err, size_t errlen)
{
  char tmpl[] = "/tmp/exsync-test-stderr-XXXXXX";
  int fd = mkstemp(tmpl), saved, rc;
  ssize_t n;
  const char *args[] = {"replay", path, NULL};

  ck_assert_int_ge(fd, 0);
  unlink(tmpl);
  fflush(stderr);
  saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  rc = run(args);
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  lseek(fd, 0, SEEK_SET);
  n = read(fd, err, errlen - 1);
  err[n > 0 ? n : 0] = '\0';
  close(fd);
  return rc;
}

START_TEST(hostile_recordings_refused)
{
  /* each command is what an edited recording says; the word that must be
   * named in the refusal follows it */
  static const struct {
    const char *args[12];
    const char *named;
  } cases[] = {
      {{"--db", "@victim.db", "mailbox", "reject", "alice@contoso.com"}, "--db"},
      {{"mailbox", "reject", "alice@contoso.com"}, "'mailbox'"},
      {{"record", "--out", "@victim.db", "--", "--trace", "@trace.txt", "test-enable", "--config",
        "{{file:org.xml}}"},
       "'--'"},
      {{"record", "--out", "@victim.db", "test-enable"}, "'record'"},
      {{"replay", "{{file:org.xml}}"}, "'replay'"},
      {{"sync", "--once"}, "'sync'"},
      {{"test-enable", "--config", "{{file:org.xml}}", "--trace", "@trace.txt"}, "--trace"},
      {{"--trace=@trace.txt", "test-enable", "--config", "{{file:org.xml}}"}, "--trace"},
      {{"--key-file", "@victim.db", "test-enable", "--config", "{{file:org.xml}}"}, "--key-file"},
      {{"test-enable", "--config", "@victim.db"}, "victim.db"},
      {{"test-enable", "--config", "{{file:../../etc/passwd}}"}, "{{file:../../etc/passwd}}"},
      {{"test-enable", "--config", "{{file:org.xml}}", "-o", "@trace.txt"}, "'-o'"},
      {{"test-enable", "--config", "{{file:org.xml}}", "--out", "@trace.txt"}, "'--out'"},
      {{"test-enable", "--mailbox", "{{file:org.xml}}", "--config", "{{file:org.xml}}"},
       "a file reference"},
      {{"autodiscover", "a@contoso.com", "--password-file", "@victim.db"}, "--password-file"},
      {{"autodiscover", "a@contoso.com", "--password-env", "A=B"}, "'A=B'"},
  };
  char dir[] = "/tmp/exsync-test-hostile-XXXXXX";
  char victim[600], trace[600], rec[600], err[4096];
  size_t i, k;

  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(victim, sizeof(victim), "%s/victim.db", dir);
  snprintf(trace, sizeof(trace), "%s/trace.txt", dir);
  snprintf(rec, sizeof(rec), "%s/case.xml", dir);
  for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    FILE *f = fopen(rec, "w");
    int rc;
    ck_assert_ptr_nonnull(f);
    fputs("<?xml version=\"1.0\"?>\n<recording xmlns=\"urn:exsync:recording:1\" version=\"1\">\n"
          "  <command>",
          f);
    for(k = 0; cases[i].args[k]; k++) {
      const char *a = cases[i].args[k];
      /* "@NAME" stands for a file of the test directory */
      if(a[0] == '@')
        fprintf(f, "<arg>%s/%s</arg>", dir, a + 1);
      else
        fprintf(f, "<arg>%s</arg>", a);
    }
    fputs("</command>\n  <file name=\"org.xml\">not an org file</file>\n", f);
    fputs(good_tail, f);
    fclose(f);
    rc = replay_captured(rec, err, sizeof(err));
    ck_assert_msg(rc == 2, "case %zu: replay exit %d: %s", i, rc, err);
    ck_assert_msg(strstr(err, "refused") && strstr(err, cases[i].named),
                  "case %zu: the refusal does not name %s: %s", i, cases[i].named, err);
    ck_assert_msg(access(victim, F_OK) != 0 && access(trace, F_OK) != 0,
                  "case %zu: a file outside the replay was written", i);
  }
  /* record refuses to make what replay would refuse */
  {
    const char *args[] = {"record", "--out", rec, "--", "--db", victim, "mailbox", "list", NULL};
    unlink(rec);
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(access(rec, F_OK) != 0 && access(victim, F_OK) != 0, "record ran it");
  }
  {
    const char *args[] = {"record",   "--out", rec,       "--",  "test-enable",
                          "--config", victim,  "--trace", trace, NULL};
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(access(rec, F_OK) != 0 && access(trace, F_OK) != 0, "record ran it");
  }
  rmdir(dir);
}
END_TEST

/* Global options after "--" (SPEC 8): the recorded --cacert/--connect-to
 * are the recorder's; replay drops them for its own and replays. */
START_TEST(record_globals_after_dashdash)
{
  char dir[] = "/tmp/exsync-test-dashdash-XXXXXX";
  char err[512], bound[64], ct[128], ca[600], org[600], rec[600];
  struct emu *emu = emu_new();
  int port, rc;
  FILE *f;

  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_msg(emu_load_scenario(emu, tu_path("fixtures/scenarios/tls.xml"), err, sizeof(err)) ==
                    0,
                "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
  ck_assert_msg(emu_write_ca(emu, ca, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_start(emu, err, sizeof(err)) == 0, "%s", err);
  snprintf(ct, sizeof(ct), "mail.tailspin.com:443:127.0.0.1:%d", port);
  snprintf(org, sizeof(org), "%s/org.xml", dir);
  f = fopen(org, "w");
  ck_assert_ptr_nonnull(f);
  fputs("<?xml version=\"1.0\"?>\n<org xmlns=\"urn:exsync:org:1\" "
        "id=\"0c3e1f7a-2b4d-4e6f-8a9b-1c2d3e4f5a6b\">\n"
        "  <settings default-profile=\"Tailspin\"/>\n"
        "  <profile name=\"Tailspin\" autodiscover=\"no\" "
        "incoming-url=\"https://mail.tailspin.com/EWS/Exchange.asmx\" "
        "authenticate-using=\"profile\" impersonation=\"yes\" protocol=\"basic\" "
        "user=\"TAILSPIN\\svc\" password-env=\"EXSYNC_DASHDASH_PW\"/>\n"
        "  <mailbox address=\"nina@tailspin.com\" name=\"Nina\" kind=\"user\" "
        "profile=\"Tailspin\" incoming=\"ssync\" outgoing=\"none\" act=\"ssync\" "
        "approval=\"approved\"/>\n</org>\n",
        f);
  fclose(f);
  setenv("EXSYNC_DASHDASH_PW", "svc-pw", 1);
  snprintf(rec, sizeof(rec), "%s/c.xml", dir);
  {
    const char *args[] = {"record",       "--out", rec,           "--",       "--cacert", ca,
                          "--connect-to", ct,      "test-enable", "--config", org,        NULL};
    rc = run(args);
    ck_assert_msg(rc == 0, "record exit %d", rc);
  }
  unsetenv("EXSYNC_DASHDASH_PW");
  emu_stop(emu);
  emu_free(emu);
  unlink(ca);
  {
    const char *args[] = {"replay", rec, NULL};
    rc = run(args);
    ck_assert_msg(rc == 0, "replay of a recording with globals after '--': exit %d", rc);
  }
  unlink(rec);
  unlink(org);
  rmdir(dir);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("record");
  TCase *t = tcase_create("normalize");

  tcase_add_test(t, normalize_headers);
  tcase_add_test(t, normalize_secret_forms);
  tcase_add_test(t, normalize_rules_and_anonymize);
  suite_add_tcase(s, t);
  t = tcase_create("format");
  tcase_add_test(t, loader_errors);
  tcase_add_test(t, loader_huge_body);
  tcase_add_test(t, roundtrip);
  suite_add_tcase(s, t);
  t = tcase_create("record");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, record_and_replay_contoso);
  tcase_add_test(t, canary_ntlm_cookie);
  tcase_add_test(t, canary_emulator_basic);
  tcase_add_test(t, new_episodes_fills_gaps);
  tcase_add_test(t, hostile_recordings_refused);
  tcase_add_test(t, record_globals_after_dashdash);
  suite_add_tcase(s, t);
  return s;
}

int main(void)
{
  return tu_run(suite());
}

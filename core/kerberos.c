/* kerberos.c - tickets for HTTP Negotiate in private memory caches, and
 * Kerberos failures named by cause (see exsync/kerberos.h).
 *
 * The ticket-granting exchange is done here with libkrb5's step API, so
 * that a KDC error (with the KDC's own time, for clock skew) can be read;
 * the service ticket is fetched here too, before the HTTP request, so that
 * an unknown SPN is named instead of surfacing as a bare 401. libcurl then
 * builds the SPNEGO token through GSS-API from the same cache.
 */
#include "exsync/kerberos.h"

#include <ctype.h>
#include <krb5.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <profile.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exsync/clock.h"

struct exs_krb {
  krb5_context ctx;
  krb5_ccache cc;
  char ccache[128];
  char principal[256];
  char realm[128];
  exs_krb_trace_fn trace;
  void *trace_ctx;
};

/* One remembered login per (principal, password): its cache, or its
 * failure. Guarded by reg_lock, which is also held across the KDC exchange
 * so that concurrent workers of one credential ask the KDC once. */
struct login {
  char principal[256];
  unsigned char pw_hash[32];
  char ccache[128];
  bool failed;
  struct exs_error err;
  struct login *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct login *reg;

static void trace(const struct exs_krb *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void trace(const struct exs_krb *k, const char *fmt, ...)
{
  char line[512];
  va_list ap;

  if(!k->trace)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  k->trace(k->trace_ctx, line);
}

static void krb_message(krb5_context ctx, krb5_error_code code, char *buf, size_t len)
{
  const char *m = krb5_get_error_message(ctx, code);

  snprintf(buf, len, "%s", m ? m : "unknown Kerberos error");
  krb5_free_error_message(ctx, m);
}

/* The KDCs configured for realm, "a, b" (or "the KDC found through DNS"). */
static void kdc_names(krb5_context ctx, const char *realm, char *buf, size_t len)
{
  profile_t prof = NULL;
  char **vals = NULL;
  const char *names[] = {"realms", realm, "kdc", NULL};
  size_t used = 0;

  snprintf(buf, len, "the KDC of %s found through DNS", realm);
  if(krb5_get_profile(ctx, &prof) || !prof)
    return;
  if(profile_get_values(prof, names, &vals) == 0 && vals && vals[0]) {
    buf[0] = '\0';
    for(size_t i = 0; vals[i] && used + 2 < len; i++) {
      int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", vals[i]);
      if(n < 0)
        break;
      used += (size_t)n < len - used ? (size_t)n : len - used - 1;
    }
  }
  profile_free_list(vals);
  profile_release(prof);
}

static void set_hash(const char *password, unsigned char out[32])
{
  unsigned int n = 32;

  memset(out, 0, 32);
  EVP_Digest(password, strlen(password), out, &n, EVP_sha256(), NULL);
}

/* "DOMAIN\user" -> "user@REALM" (the default realm when its first label is
 * DOMAIN, else DOMAIN upper-cased); "user@upn.suffix" -> realm upper-cased;
 * "user" stays for the default realm. */
static void map_user(krb5_context ctx, const char *user, char *out, size_t len)
{
  const char *bs = strchr(user, '\\');
  const char *at = strchr(user, '@');
  char *def = NULL;
  size_t n;

  if(bs) {
    char domain[128];
    snprintf(domain, sizeof(domain), "%.*s", (int)(bs - user), user);
    for(char *p = domain; *p; p++)
      *p = (char)toupper((unsigned char)*p);
    if(krb5_get_default_realm(ctx, &def) == 0 && def) {
      size_t dl = strlen(domain);
      if(strncasecmp(def, domain, dl) == 0 && (def[dl] == '\0' || def[dl] == '.')) {
        snprintf(out, len, "%s@%s", bs + 1, def);
        krb5_free_default_realm(ctx, def);
        return;
      }
      krb5_free_default_realm(ctx, def);
    }
    snprintf(out, len, "%s@%s", bs + 1, domain);
    return;
  }
  snprintf(out, len, "%s", user);
  if(at) {
    n = (size_t)(at - user) + 1;
    for(char *p = out + n; n < len && *p; p++)
      *p = (char)toupper((unsigned char)*p);
  }
}

/* Follow the injectable clock (tests shift it to provoke clock skew). */
static void sync_clock(krb5_context ctx)
{
  time_t now = exs_now();
  time_t real = time(NULL);

  if(now - real > 1 || real - now > 1)
    krb5_set_real_time(ctx, (krb5_timestamp)now, 0);
}

static int handle_new(exs_krb_trace_fn fn, void *fn_ctx, struct exs_krb **out,
                      struct exs_error *err)
{
  struct exs_krb *k = calloc(1, sizeof(*k));
  krb5_error_code code;

  if(!k) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    return -1;
  }
  k->trace = fn;
  k->trace_ctx = fn_ctx;
  code = krb5_init_context(&k->ctx);
  if(code) {
    exs_error_set(err, EXS_CAT_KERBEROS,
                  "cannot read the Kerberos configuration (krb5.conf, KRB5_CONFIG): error %ld",
                  (long)code);
    free(k);
    return -1;
  }
  sync_clock(k->ctx);
  *out = k;
  return 0;
}

/* Name the failure of an exchange with the KDC. kerr (may be NULL) is the
 * KDC's error reply, for its clock. */
static void classify(struct exs_krb *k, krb5_error_code code, const krb5_error *kerr,
                     const char *spn, struct exs_error *err)
{
  char text[256], kdcs[256];

  krb_message(k->ctx, code, text, sizeof(text));
  kdc_names(k->ctx, k->realm, kdcs, sizeof(kdcs));
  snprintf(err->ews_code, sizeof(err->ews_code), "krb5:%ld", (long)code);
  switch(code) {
  case KRB5KDC_ERR_PREAUTH_FAILED:
  case KRB5KRB_AP_ERR_BAD_INTEGRITY:
    exs_error_set(err, EXS_CAT_CREDENTIALS,
                  "Kerberos pre-authentication failed for %s: the KDC (%s) refused the "
                  "password",
                  k->principal, kdcs);
    break;
  case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
    exs_error_set(err, EXS_CAT_CREDENTIALS, "the KDC (%s) does not know the account %s", kdcs,
                  k->principal);
    break;
  case KRB5KDC_ERR_CLIENT_REVOKED:
    exs_error_set(err, EXS_CAT_CREDENTIALS, "the account %s is disabled or locked out (KDC %s)",
                  k->principal, kdcs);
    break;
  case KRB5KDC_ERR_KEY_EXP:
    exs_error_set(err, EXS_CAT_CREDENTIALS, "the password of %s has expired (KDC %s)", k->principal,
                  kdcs);
    break;
  case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
    exs_error_set(err, EXS_CAT_KERBEROS,
                  "the KDC (%s) does not know the service principal %s: no account has "
                  "this SPN",
                  kdcs, spn ? spn : "(unknown)");
    snprintf(err->hint, sizeof(err->hint),
             "Register the SPN on the account that runs Exchange's web services: "
             "setspn -S %s ACCOUNT (one account only), then run Test & Enable again.",
             spn ? spn : "HTTP/host");
    break;
  case KRB5KRB_AP_ERR_SKEW: {
    long offset = 0;
    if(kerr)
      offset = (long)((int64_t)(uint32_t)kerr->stime - (int64_t)exs_now());
    exs_error_set(err, EXS_CAT_KERBEROS,
                  "clock skew: this machine's clock is %ld s %s the KDC's (%s); Kerberos "
                  "allows 300 s by default",
                  offset < 0 ? -offset : offset, offset < 0 ? "ahead of" : "behind", kdcs);
    snprintf(err->hint, sizeof(err->hint),
             "Synchronise this machine's clock with the domain (NTP from a domain "
             "controller), then run Test & Enable again.");
    break;
  }
  case KRB5_KDC_UNREACH:
  case KRB5_REALM_CANT_RESOLVE:
    exs_error_set(err, EXS_CAT_KERBEROS, "cannot reach the KDC of realm %s (%s): %s", k->realm,
                  kdcs, text);
    err->transient = true;
    snprintf(err->hint, sizeof(err->hint),
             "Check that %s answers on port 88 (UDP and TCP) from this machine and that "
             "krb5.conf names the right KDC for %s.",
             kdcs, k->realm);
    break;
  case KRB5_REALM_UNKNOWN:
  case KRB5_CONFIG_NODEFREALM:
    exs_error_set(err, EXS_CAT_KERBEROS, "no Kerberos realm is configured for %s (krb5.conf): %s",
                  k->principal, text);
    snprintf(err->hint, sizeof(err->hint),
             "Configure the domain's realm in krb5.conf (default_realm, [realms] kdc) or "
             "use the NTLM protocol.");
    break;
  default:
    exs_error_set(err, EXS_CAT_KERBEROS, "Kerberos failed for %s%s%s: %s", k->principal,
                  spn ? " and " : "", spn ? spn : "", text);
    break;
  }
}

static struct login *reg_find(const char *principal, const unsigned char hash[32])
{
  for(struct login *l = reg; l; l = l->next)
    if(!strcmp(l->principal, principal) && !CRYPTO_memcmp(l->pw_hash, hash, 32))
      return l;
  return NULL;
}

static struct login *reg_add(const char *principal, const unsigned char hash[32])
{
  struct login *l = calloc(1, sizeof(*l));

  if(!l)
    return NULL;
  snprintf(l->principal, sizeof(l->principal), "%s", principal);
  memcpy(l->pw_hash, hash, 32);
  l->next = reg;
  reg = l;
  return l;
}

static int realm_of(struct exs_krb *k, krb5_principal p)
{
  snprintf(k->realm, sizeof(k->realm), "%.*s", (int)p->realm.length, p->realm.data);
  return 0;
}

/* The AS exchange with a password, into k->cc. */
static krb5_error_code as_password(struct exs_krb *k, krb5_principal princ, const char *password,
                                   struct exs_error *err)
{
  krb5_get_init_creds_opt *opt = NULL;
  krb5_init_creds_context icc = NULL;
  krb5_error *kerr = NULL;
  krb5_creds creds;
  krb5_error_code code;
  char kdcs[256];
  const char *etype_name = "";
  char etype[64];

  memset(&creds, 0, sizeof(creds));
  kdc_names(k->ctx, k->realm, kdcs, sizeof(kdcs));
  trace(k, "kerberos: AS exchange for %s (realm %s, KDC %s)", k->principal, k->realm, kdcs);
  code = krb5_get_init_creds_opt_alloc(k->ctx, &opt);
  if(!code)
    code = krb5_init_creds_init(k->ctx, princ, NULL, NULL, 0, opt, &icc);
  if(!code)
    code = krb5_init_creds_set_password(k->ctx, icc, password);
  if(!code)
    code = krb5_init_creds_get(k->ctx, icc);
  if(code) {
    if(icc)
      krb5_init_creds_get_error(k->ctx, icc, &kerr);
    classify(k, code, kerr, NULL, err);
    trace(k, "kerberos: AS exchange failed: %s", err->message);
    goto out;
  }
  code = krb5_init_creds_get_creds(k->ctx, icc, &creds);
  if(!code)
    code = krb5_cc_initialize(k->ctx, k->cc, princ);
  if(!code)
    code = krb5_cc_store_cred(k->ctx, k->cc, &creds);
  if(code) {
    classify(k, code, NULL, NULL, err);
    goto out;
  }
  if(krb5_enctype_to_name(creds.keyblock.enctype, 0, etype, sizeof(etype)) == 0)
    etype_name = etype;
  trace(k, "kerberos: ticket-granting ticket for %s (%s)", k->principal, etype_name);
out:
  if(kerr)
    krb5_free_error(k->ctx, kerr);
  krb5_free_cred_contents(k->ctx, &creds);
  if(icc)
    krb5_init_creds_free(k->ctx, icc);
  if(opt)
    krb5_get_init_creds_opt_free(k->ctx, opt);
  return code;
}

static int open_cache(struct exs_krb *k, const char *name, struct exs_error *err)
{
  krb5_error_code code = krb5_cc_resolve(k->ctx, name, &k->cc);

  if(code) {
    classify(k, code, NULL, NULL, err);
    return -1;
  }
  snprintf(k->ccache, sizeof(k->ccache), "%s", name);
  return 0;
}

static int new_memory_cache(struct exs_krb *k, struct exs_error *err)
{
  char *full = NULL;
  krb5_error_code code = krb5_cc_new_unique(k->ctx, "MEMORY", NULL, &k->cc);

  if(!code)
    code = krb5_cc_get_full_name(k->ctx, k->cc, &full);
  if(code) {
    classify(k, code, NULL, NULL, err);
    return -1;
  }
  snprintf(k->ccache, sizeof(k->ccache), "%s", full);
  krb5_free_string(k->ctx, full);
  return 0;
}

/* The realm krb5.conf's [domain_realm] names for host (exact host, then
 * ".parent" and "parent" entries), "" when none does. */
static void host_realm(profile_t prof, const char *host, char *realm, size_t len)
{
  const char *d = host;

  realm[0] = '\0';
  while(d && *d) {
    char dotted[300];
    const char *tries[2];
    snprintf(dotted, sizeof(dotted), ".%s", d);
    tries[0] = d == host ? host : dotted;
    tries[1] = d == host ? NULL : d;
    for(int i = 0; i < 2 && tries[i]; i++) {
      char *v = NULL;
      if(profile_get_string(prof, "domain_realm", tries[i], NULL, NULL, &v) == 0 && v) {
        snprintf(realm, len, "%s", v);
        profile_release_string(v);
        return;
      }
    }
    d = strchr(d, '.');
    if(d)
      d++;
  }
}

bool exs_krb_configured(const char *user, const char *host)
{
  krb5_context ctx = NULL;
  krb5_principal p = NULL;
  profile_t prof = NULL;
  char name[256], realm[128];
  char **vals = NULL;
  bool yes = false;

  if(krb5_init_context(&ctx))
    return false;
  if(krb5_get_profile(ctx, &prof) || !prof)
    goto out;
  host_realm(prof, host, realm, sizeof(realm));
  if(!realm[0])
    goto out;
  {
    const char *names[] = {"realms", realm, "kdc", NULL};
    if(profile_get_values(prof, names, &vals) || !vals || !vals[0])
      goto out;
  }
  if(!user) {
    krb5_ccache cc = NULL;
    krb5_keytab kt = NULL;
    if(krb5_cc_default(ctx, &cc) == 0 && krb5_cc_get_principal(ctx, cc, &p) == 0)
      yes = true;
    else if(krb5_kt_client_default(ctx, &kt) == 0 && krb5_kt_have_content(ctx, kt) == 0)
      yes = true;
    if(cc)
      krb5_cc_close(ctx, cc);
    if(kt)
      krb5_kt_close(ctx, kt);
    goto out;
  }
  map_user(ctx, user, name, sizeof(name));
  if(krb5_parse_name(ctx, name, &p))
    goto out;
  yes = (size_t)p->realm.length == strlen(realm) && !strncmp(p->realm.data, realm, p->realm.length);
out:
  profile_free_list(vals);
  if(prof)
    profile_release(prof);
  if(p)
    krb5_free_principal(ctx, p);
  krb5_free_context(ctx);
  return yes;
}

int exs_krb_login_password(const char *user, const char *password, exs_krb_trace_fn fn,
                           void *fn_ctx, struct exs_krb **out, struct exs_error *err)
{
  struct exs_krb *k = NULL;
  krb5_principal princ = NULL;
  unsigned char hash[32];
  char name[256], *unparsed = NULL;
  struct login *l;
  int result = -1;
  bool locked = false;

  *out = NULL;
  if(!user || !*user || !password) {
    exs_error_set(err, EXS_CAT_CREDENTIALS, "Kerberos needs a user name and a password");
    return -1;
  }
  if(handle_new(fn, fn_ctx, &k, err))
    return -1;
  map_user(k->ctx, user, name, sizeof(name));
  snprintf(k->principal, sizeof(k->principal), "%s", name);
  if(krb5_parse_name(k->ctx, name, &princ)) {
    exs_error_set(err, EXS_CAT_CREDENTIALS, "'%s' is not a Kerberos principal name", user);
    goto out;
  }
  realm_of(k, princ);
  if(krb5_unparse_name(k->ctx, princ, &unparsed) == 0) {
    snprintf(k->principal, sizeof(k->principal), "%s", unparsed);
    krb5_free_unparsed_name(k->ctx, unparsed);
  }
  set_hash(password, hash);
  pthread_mutex_lock(&reg_lock);
  locked = true;
  l = reg_find(k->principal, hash);
  if(l && l->failed) {
    /* never present a refused password to the KDC twice (lockout) */
    *err = l->err;
    trace(k,
          "kerberos: not asking the KDC again for %s: it refused this password earlier "
          "in this run",
          k->principal);
    goto out;
  }
  if(l && open_cache(k, l->ccache, err) == 0) {
    krb5_principal cp = NULL;
    if(krb5_cc_get_principal(k->ctx, k->cc, &cp) == 0) {
      krb5_free_principal(k->ctx, cp);
      result = 0;
      goto out;
    }
    krb5_cc_close(k->ctx, k->cc);
    k->cc = NULL;
  }
  if(new_memory_cache(k, err))
    goto out;
  if(as_password(k, princ, password, err)) {
    if(err->category == EXS_CAT_CREDENTIALS) {
      if(!l)
        l = reg_add(k->principal, hash);
      if(l) {
        l->failed = true;
        l->err = *err;
      }
    }
    goto out;
  }
  if(!l)
    l = reg_add(k->principal, hash);
  if(l)
    snprintf(l->ccache, sizeof(l->ccache), "%s", k->ccache);
  result = 0;
out:
  if(locked)
    pthread_mutex_unlock(&reg_lock);
  OPENSSL_cleanse(hash, sizeof(hash));
  if(princ)
    krb5_free_principal(k->ctx, princ);
  if(result)
    exs_krb_free(k);
  else
    *out = k;
  return result;
}

/* The first principal of the client keytab, or 0 entries. */
static krb5_error_code keytab_principal(struct exs_krb *k, krb5_keytab kt, krb5_principal *p)
{
  krb5_kt_cursor cur;
  krb5_keytab_entry e;
  krb5_error_code code = krb5_kt_start_seq_get(k->ctx, kt, &cur);

  *p = NULL;
  if(code)
    return code;
  code = krb5_kt_next_entry(k->ctx, kt, &e, &cur);
  if(!code) {
    code = krb5_copy_principal(k->ctx, e.principal, p);
    krb5_free_keytab_entry_contents(k->ctx, &e);
  }
  krb5_kt_end_seq_get(k->ctx, kt, &cur);
  return code;
}

int exs_krb_login_default(exs_krb_trace_fn fn, void *fn_ctx, struct exs_krb **out,
                          struct exs_error *err)
{
  struct exs_krb *k = NULL;
  krb5_keytab kt = NULL;
  krb5_principal princ = NULL;
  krb5_creds creds;
  krb5_error_code code;
  char *name = NULL, ktname[256] = "";
  int result = -1;

  *out = NULL;
  memset(&creds, 0, sizeof(creds));
  if(handle_new(fn, fn_ctx, &k, err))
    return -1;
  /* a service runs from a client keytab */
  if(krb5_kt_client_default(k->ctx, &kt) == 0 && keytab_principal(k, kt, &princ) == 0) {
    krb5_kt_get_name(k->ctx, kt, ktname, sizeof(ktname));
    if(krb5_unparse_name(k->ctx, princ, &name) == 0) {
      snprintf(k->principal, sizeof(k->principal), "%s", name);
      krb5_free_unparsed_name(k->ctx, name);
    }
    realm_of(k, princ);
    trace(k, "kerberos: running identity %s from the client keytab %s", k->principal, ktname);
    if(new_memory_cache(k, err))
      goto out;
    code = krb5_get_init_creds_keytab(k->ctx, &creds, princ, kt, 0, NULL, NULL);
    if(!code)
      code = krb5_cc_initialize(k->ctx, k->cc, princ);
    if(!code)
      code = krb5_cc_store_cred(k->ctx, k->cc, &creds);
    if(code) {
      classify(k, code, NULL, NULL, err);
      goto out;
    }
    result = 0;
    goto out;
  }
  /* else the running identity's own ticket cache, as it is */
  code = krb5_cc_default(k->ctx, &k->cc);
  if(!code)
    code = krb5_cc_get_principal(k->ctx, k->cc, &princ);
  if(code) {
    exs_error_set(err, EXS_CAT_CREDENTIALS,
                  "the running identity (uid %u) has no Kerberos ticket and no client keytab",
                  (unsigned)getuid());
    snprintf(err->hint, sizeof(err->hint),
             "Windows integrated authentication uses the identity exsync runs as: get it a "
             "ticket (kinit) or give the service a client keytab (KRB5_CLIENT_KTNAME).");
    goto out;
  }
  if(krb5_cc_get_full_name(k->ctx, k->cc, &name) == 0) {
    snprintf(k->ccache, sizeof(k->ccache), "%s", name);
    krb5_free_string(k->ctx, name);
    name = NULL;
  }
  if(krb5_unparse_name(k->ctx, princ, &name) == 0) {
    snprintf(k->principal, sizeof(k->principal), "%s", name);
    krb5_free_unparsed_name(k->ctx, name);
  }
  realm_of(k, princ);
  trace(k, "kerberos: running identity %s from the credential cache", k->principal);
  result = 0;
out:
  krb5_free_cred_contents(k->ctx, &creds);
  if(princ)
    krb5_free_principal(k->ctx, princ);
  if(kt)
    krb5_kt_close(k->ctx, kt);
  if(result)
    exs_krb_free(k);
  else
    *out = k;
  return result;
}

int exs_krb_service_ticket(struct exs_krb *k, const char *host, const char *url,
                           struct exs_error *err)
{
  krb5_principal server = NULL, client = NULL;
  krb5_creds in, *got = NULL;
  krb5_error_code code;
  char spn[300], etype[64] = "";
  int result = -1;

  memset(&in, 0, sizeof(in));
  snprintf(spn, sizeof(spn), "HTTP/%s", host);
  snprintf(err->url, sizeof(err->url), "%s", url ? url : "");
  code = krb5_sname_to_principal(k->ctx, host, "HTTP", KRB5_NT_SRV_HST, &server);
  if(!code)
    code = krb5_cc_get_principal(k->ctx, k->cc, &client);
  if(code) {
    classify(k, code, NULL, spn, err);
    goto out;
  }
  in.client = client;
  in.server = server;
  code = krb5_get_credentials(k->ctx, 0, k->cc, &in, &got);
  if(code) {
    classify(k, code, NULL, spn, err);
    trace(k, "kerberos: no service ticket for %s: %s", spn, err->message);
    goto out;
  }
  krb5_enctype_to_name(got->keyblock.enctype, 0, etype, sizeof(etype));
  trace(k, "kerberos: service ticket for %s as %s (%s)", spn, k->principal, etype);
  result = 0;
out:
  if(got)
    krb5_free_creds(k->ctx, got);
  if(server)
    krb5_free_principal(k->ctx, server);
  if(client)
    krb5_free_principal(k->ctx, client);
  return result;
}

void exs_krb_rejected(const struct exs_krb *k, const char *host, const char *url,
                      struct exs_error *err)
{
  snprintf(err->url, sizeof(err->url), "%s", url ? url : "");
  exs_error_set(err, EXS_CAT_KERBEROS,
                "the server rejected the Kerberos service ticket of %s for HTTP/%s: its key "
                "does not match the KDC's (a stale key version, or the SPN registered on "
                "two accounts)",
                k ? k->principal : "this client", host);
  snprintf(err->hint, sizeof(err->hint),
           "Find the accounts that hold the SPN (setspn -Q HTTP/%s): keep it on the one that "
           "runs Exchange's web services only, then reset that account's keys.",
           host);
}

const char *exs_krb_ccache(const struct exs_krb *k)
{
  return k->ccache;
}

const char *exs_krb_principal(const struct exs_krb *k)
{
  return k->principal;
}

void exs_krb_free(struct exs_krb *k)
{
  if(!k)
    return;
  if(k->cc)
    krb5_cc_close(k->ctx, k->cc);
  krb5_free_context(k->ctx);
  free(k);
}

void exs_krb_reset(void)
{
  pthread_mutex_lock(&reg_lock);
  while(reg) {
    struct login *l = reg;
    reg = l->next;
    OPENSSL_cleanse(l->pw_hash, sizeof(l->pw_hash));
    free(l);
  }
  pthread_mutex_unlock(&reg_lock);
}

/* scp.c - Autodiscover SCP lookup in Active Directory over LDAP (exsync/scp.h). */
#include "exsync/scp.h"

#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void set_err(struct exs_error *err, const char *uri, const char *fmt, const char *what,
                    int rc)
{
  snprintf(err->url, sizeof(err->url), "%s", uri);
  exs_error_set(err, EXS_CAT_AUTODISCOVER, fmt, what, ldap_err2string(rc));
}

/* The "Site=NAME" keyword of an entry, or "". */
static void entry_site(struct berval **kw, char *site, size_t len)
{
  site[0] = '\0';
  for(size_t i = 0; kw && kw[i]; i++)
    if(kw[i]->bv_len > 5 && !strncasecmp(kw[i]->bv_val, "Site=", 5))
      snprintf(site, len, "%.*s", (int)kw[i]->bv_len - 5, kw[i]->bv_val + 5);
}

/* 0: the client's site, 1: no site, 2: another site. */
static int rank(const struct exs_scp_entry *e, const char *site)
{
  if(!e->site[0])
    return 1;
  return site && !strcasecmp(e->site, site) ? 0 : 2;
}

/* Order entries by rank, keeping the directory's order within a rank. */
static int order(struct exs_scp_entry *e, size_t n, const char *site)
{
  struct exs_scp_entry *tmp = malloc(n * sizeof(*tmp));
  size_t k = 0;

  if(!tmp)
    return -1;
  for(int r = 0; r < 3; r++)
    for(size_t i = 0; i < n; i++)
      if(rank(&e[i], site) == r)
        tmp[k++] = e[i];
  memcpy(e, tmp, n * sizeof(*tmp));
  free(tmp);
  return 0;
}

static int first_value(LDAP *ld, LDAPMessage *e, const char *attr, char *out, size_t len)
{
  struct berval **v = ldap_get_values_len(ld, e, attr);
  int found = v && v[0];

  if(found)
    snprintf(out, len, "%.*s", (int)v[0]->bv_len, v[0]->bv_val);
  ldap_value_free_len(v);
  return found ? 0 : -1;
}

int exs_scp_lookup(const struct exs_scp_options *opt, struct exs_scp_entry *out, size_t max,
                   size_t *n, char *detail, size_t dlen, struct exs_error *err)
{
  LDAP *ld = NULL;
  LDAPMessage *res = NULL, *e;
  struct timeval tv;
  struct berval cred = {0, NULL};
  char *root_attrs[] = {"configurationNamingContext", NULL};
  char *scp_attrs[] = {"serviceBindingInformation", "keywords", NULL};
  char config_nc[512];
  int version = LDAP_VERSION3, rc, result = -1;
  long ms = opt->timeout_ms > 0 ? opt->timeout_ms : 5000;

  *n = 0;
  detail[0] = '\0';
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  rc = ldap_initialize(&ld, opt->uri);
  if(rc != LDAP_SUCCESS) {
    set_err(err, opt->uri, "not a usable directory URI %s: %s", opt->uri, rc);
    goto out;
  }
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
  if(opt->user && *opt->user) {
    cred.bv_val = (char *)(opt->password ? opt->password : "");
    cred.bv_len = strlen(cred.bv_val);
  }
  rc = ldap_sasl_bind_s(ld, opt->user && *opt->user ? opt->user : NULL, LDAP_SASL_SIMPLE, &cred,
                        NULL, NULL, NULL);
  if(rc == LDAP_INVALID_CREDENTIALS) {
    snprintf(err->url, sizeof(err->url), "%s", opt->uri);
    exs_error_set(err, EXS_CAT_CREDENTIALS, "the directory %s refused the bind of %s", opt->uri,
                  opt->user && *opt->user ? opt->user : "(anonymous)");
    goto out;
  }
  if(rc != LDAP_SUCCESS) {
    set_err(err, opt->uri, "cannot bind to the directory %s: %s", opt->uri, rc);
    if(rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT)
      err->transient = true;
    goto out;
  }
  rc = ldap_search_ext_s(ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", root_attrs, 0, NULL, NULL, &tv,
                         1, &res);
  e = rc == LDAP_SUCCESS ? ldap_first_entry(ld, res) : NULL;
  if(!e || first_value(ld, e, "configurationNamingContext", config_nc, sizeof(config_nc))) {
    snprintf(err->url, sizeof(err->url), "%s", opt->uri);
    exs_error_set(err, EXS_CAT_AUTODISCOVER,
                  "the directory %s names no configuration partition "
                  "(configurationNamingContext): is it Active Directory?",
                  opt->uri);
    goto out;
  }
  ldap_msgfree(res);
  res = NULL;
  rc = ldap_search_ext_s(ld, config_nc, LDAP_SCOPE_SUBTREE,
                         "(&(objectClass=serviceConnectionPoint)(keywords=" EXS_SCP_KEYWORD "))",
                         scp_attrs, 0, NULL, NULL, &tv, 0, &res);
  if(rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
    set_err(err, opt->uri, "cannot search the configuration partition of %s: %s", opt->uri, rc);
    goto out;
  }
  for(e = ldap_first_entry(ld, res); e && *n < max; e = ldap_next_entry(ld, e)) {
    struct exs_scp_entry *x = &out[*n];
    struct berval **kw;
    char *dn;
    if(first_value(ld, e, "serviceBindingInformation", x->url, sizeof(x->url)))
      continue;
    dn = ldap_get_dn(ld, e);
    snprintf(x->dn, sizeof(x->dn), "%s", dn ? dn : "");
    ldap_memfree(dn);
    kw = ldap_get_values_len(ld, e, "keywords");
    entry_site(kw, x->site, sizeof(x->site));
    ldap_value_free_len(kw);
    (*n)++;
  }
  if(*n && order(out, *n, opt->site)) {
    exs_error_set(err, EXS_CAT_AUTODISCOVER, "out of memory");
    goto out;
  }
  snprintf(detail, dlen, "%zu SCP entr%s under %s%s%s", *n, *n == 1 ? "y" : "ies", config_nc,
           opt->site ? ", site " : "", opt->site ? opt->site : "");
  result = 0;
out:
  if(res)
    ldap_msgfree(res);
  if(ld)
    ldap_unbind_ext_s(ld, NULL, NULL);
  return result;
}

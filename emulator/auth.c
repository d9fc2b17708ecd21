/* auth.c - HTTP authentication for the emulator.
 *
 * Basic is verified here; NTLMv2 (under the NTLM or the Negotiate scheme)
 * by ntlm.c, with its handshake state kept per connection.
 *
 * User names are accepted as "login", "DOMAIN\login" and "login@domain";
 * the domain part is not checked against the user's domain except that
 * "login@domain" may also be the user's mailbox address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/keyvalq_struct.h>

#include "emu_internal.h"
#include "exsync-emulator/ntlm.h"
#include "krb.h"

static bool prefix_ci(const char *s, const char *p)
{
  return strncasecmp(s, p, strlen(p)) == 0;
}

static struct emu_user *find_by_name(struct emu *emu, const char *name)
{
  const char *bs = strchr(name, '\\');
  const char *at;
  struct emu_user *u;
  char login[256];

  if(bs)
    return emu_user_find(emu, bs + 1);
  u = emu_user_find(emu, name);
  if(u)
    return u;
  at = strchr(name, '@');
  if(!at)
    return NULL;
  for(size_t i = 0; i < emu->nusers; i++)
    if(emu->users[i]->smtp && strcasecmp(emu->users[i]->smtp, name) == 0)
      return emu->users[i];
  snprintf(login, sizeof(login), "%.*s", (int)(at - name), name);
  return emu_user_find(emu, login);
}

static enum emu_auth_result auth_basic(struct emu *emu, const char *b64, struct emu_user **user)
{
  struct exs_buf d;
  enum emu_auth_result result = EMU_AUTH_BAD;
  char *colon;
  struct emu_user *u;

  exs_buf_init(&d, 1024);
  while(*b64 == ' ')
    b64++;
  if(exs_base64_decode(&d, b64, strlen(b64)) != 0 || !d.data)
    goto out;
  if(memchr(d.data, '\0', d.len))
    goto out;
  colon = strchr(d.data, ':');
  if(!colon)
    goto out;
  *colon = '\0';
  u = find_by_name(emu, d.data);
  if(!u || strcmp(u->password, colon + 1) != 0)
    goto out;
  *user = u;
  result = EMU_AUTH_OK;
out:
  exs_buf_free(&d);
  return result;
}

/* ---- per-connection state ---- */

void emu_conn_auth_forget(struct emu *emu, struct evhttp_connection *conn)
{
  pthread_mutex_lock(&emu->lock);
  for(struct emu_conn_auth **pp = &emu->conn_auth; *pp; pp = &(*pp)->next) {
    if((*pp)->conn == conn) {
      struct emu_conn_auth *ca = *pp;
      *pp = ca->next;
      if(ca->ntlm && ca->ntlm_free)
        ca->ntlm_free(ca->ntlm);
      emu_krb_ctx_free(ca->krb);
      free(ca);
      break;
    }
  }
  pthread_mutex_unlock(&emu->lock);
}

struct emu_conn_auth *emu_conn_auth_get(struct emu *emu, struct evhttp_connection *conn,
                                        bool create)
{
  struct emu_conn_auth *ca;

  if(!conn)
    return NULL;
  /* the list is shared by every thread; an entry is used only by the
   * thread of its connection, which alone frees it (at the close) */
  pthread_mutex_lock(&emu->lock);
  for(ca = emu->conn_auth; ca; ca = ca->next)
    if(ca->conn == conn)
      goto out;
  /* state is kept only for a connection whose close conn.c sees, so a
   * later connection at the same address never inherits it */
  if(!create || !emu_conn_tracked(emu, conn))
    goto out;
  ca = calloc(1, sizeof(*ca));
  if(!ca)
    goto out;
  ca->conn = conn;
  ca->next = emu->conn_auth;
  emu->conn_auth = ca;
out:
  pthread_mutex_unlock(&emu->lock);
  return ca;
}

void emu_conn_auth_clear(struct emu *emu)
{
  while(emu->conn_auth) {
    struct emu_conn_auth *ca = emu->conn_auth;
    emu->conn_auth = ca->next;
    if(ca->ntlm && ca->ntlm_free)
      ca->ntlm_free(ca->ntlm);
    emu_krb_ctx_free(ca->krb);
    free(ca);
  }
}

/* NTLM and Negotiate (raw NTLMSSP tokens under either scheme, as curl,
 * requests-ntlm and ews-javascript-api send them): the handshake state of
 * ntlm.c lives with the connection, because NTLM authenticates a
 * connection, not a request. Called under the world lock (shared). */
static int ntlm_lookup(void *arg, const char *user, const char *domain,
                       struct emu_ntlm_secret *secret)
{
  struct emu_user *u = find_by_name(arg, user);

  (void)domain; /* the NTLMv2 proof binds the domain the client sent */
  if(!u)
    return -1;
  memset(secret, 0, sizeof(*secret));
  secret->password = u->password;
  return 0;
}

static void ntlm_state_free(void *state)
{
  emu_ntlm_conn_free(state);
}

static enum emu_auth_result auth_ntlm(struct emu *emu, const char *authorization,
                                      struct evhttp_connection *conn, struct emu_user **user,
                                      char *challenge, size_t chlen)
{
  struct emu_conn_auth *ca = emu_conn_auth_get(emu, conn, true);
  struct emu_ntlm_step_out out;

  if(!ca)
    return EMU_AUTH_BAD;
  if(!ca->ntlm) {
    struct emu_ntlm_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.target.nb_domain = "EXSYNC";
    cfg.target.nb_computer = "EMULATOR";
    cfg.target.dns_domain = "exsync.test";
    cfg.target.dns_computer = "emulator.exsync.test";
    cfg.lookup = ntlm_lookup;
    cfg.lookup_arg = emu;
    ca->ntlm = emu_ntlm_conn_new(&cfg);
    if(!ca->ntlm)
      return EMU_AUTH_BAD;
    ca->ntlm_free = ntlm_state_free;
  }
  ca->login[0] = '\0'; /* a new handshake replaces the connection's logon */
  emu_ntlm_conn_step(ca->ntlm, authorization, &out);
  switch(out.action) {
  case EMU_NTLM_SEND_CHALLENGE:
    snprintf(challenge, chlen, "%s", out.www_authenticate);
    return EMU_AUTH_CONTINUE;
  case EMU_NTLM_AUTHENTICATED:
    *user = find_by_name(emu, out.user);
    if(!*user)
      return EMU_AUTH_BAD;
    snprintf(ca->login, sizeof(ca->login), "%s", (*user)->login);
    return EMU_AUTH_OK;
  default:
    return EMU_AUTH_BAD;
  }
}

/* Kerberos under Negotiate (SPNEGO through GSS-API): the client principal
 * "alice@CONTOSO.COM" is mapped to the scenario user alice. Like NTLM, the
 * logon then holds for the connection (IIS's default for Kerberos). */
static enum emu_auth_result auth_kerberos(struct emu *emu, const char *token,
                                          struct evhttp_connection *conn, struct emu_user **user,
                                          char *challenge, size_t chlen)
{
  struct emu_conn_auth *ca = emu_conn_auth_get(emu, conn, true);
  char principal[256], out[8192], reason[512];
  enum emu_krb_result kr;

  if(!ca)
    return EMU_AUTH_BAD;
  ca->login[0] = '\0';
  kr = emu_krb_accept(emu->krb, &ca->krb, token, principal, sizeof(principal), out, sizeof(out),
                      reason, sizeof(reason));
  if(out[0])
    snprintf(challenge, chlen, "Negotiate %s", out);
  if(kr == EMU_KRB_CONTINUE)
    return EMU_AUTH_CONTINUE;
  if(kr != EMU_KRB_OK) {
    snprintf(ca->refusal, sizeof(ca->refusal), "kerberos: %s", reason);
    challenge[0] = '\0';
    return EMU_AUTH_BAD;
  }
  *user = find_by_name(emu, principal);
  if(!*user) {
    snprintf(ca->refusal, sizeof(ca->refusal), "kerberos: %s is no user here", principal);
    challenge[0] = '\0';
    return EMU_AUTH_BAD;
  }
  snprintf(ca->login, sizeof(ca->login), "%s", (*user)->login);
  ca->scheme = "negotiate-kerberos";
  return EMU_AUTH_OK;
}

/* Whether a Negotiate token is a raw NTLMSSP message ("NTLMSSP\0" in base64). */
static bool negotiate_is_ntlm(const char *authorization)
{
  const char *v = authorization + strlen("Negotiate ");

  while(*v == ' ')
    v++;
  return strncmp(v, "TlRMTVNTUA", 10) == 0;
}

enum emu_auth_result emu_auth_check(struct emu *emu, const struct emu_host *host,
                                    const char *authorization, struct evhttp_connection *conn,
                                    struct emu_user **user, const char **scheme, char *challenge,
                                    size_t chlen)
{
  enum emu_auth_result r;

  *user = NULL;
  *scheme = "";
  challenge[0] = '\0';
  {
    struct emu_conn_auth *ca = emu_conn_auth_get(emu, conn, false);
    if(ca)
      ca->refusal[0] = '\0';
  }
  if(!authorization || !*authorization) {
    /* a connection authenticated by NTLM/Negotiate stays authenticated */
    struct emu_conn_auth *ca = emu_conn_auth_get(emu, conn, false);
    if(ca && ca->login[0] && (*user = emu_user_find(emu, ca->login)) != NULL) {
      *scheme = ca->scheme ? ca->scheme : "";
      return EMU_AUTH_OK;
    }
    return EMU_AUTH_NONE;
  }
  if(prefix_ci(authorization, "Basic ")) {
    if(!host->basic)
      return EMU_AUTH_BAD;
    *scheme = "basic";
    return auth_basic(emu, authorization + 6, user);
  }
  if(prefix_ci(authorization, "Negotiate ") && host->negotiate &&
     !negotiate_is_ntlm(authorization)) {
    if(!emu->krb) {
      struct emu_conn_auth *ca = emu_conn_auth_get(emu, conn, true);
      if(ca)
        snprintf(ca->refusal, sizeof(ca->refusal), "kerberos: no keytab (--keytab)");
      return EMU_AUTH_BAD;
    }
    *scheme = "negotiate-kerberos";
    return auth_kerberos(emu, authorization + 10, conn, user, challenge, chlen);
  }
  if((prefix_ci(authorization, "NTLM ") && host->ntlm) ||
     (prefix_ci(authorization, "Negotiate ") && host->negotiate)) {
    const char *s = prefix_ci(authorization, "NTLM ") ? "ntlm" : "negotiate-ntlm";
    r = auth_ntlm(emu, authorization, conn, user, challenge, chlen);
    if(r == EMU_AUTH_OK) {
      struct emu_conn_auth *ca = emu_conn_auth_get(emu, conn, false);
      if(ca)
        ca->scheme = s;
    }
    *scheme = s;
    return r;
  }
  return EMU_AUTH_BAD;
}

void emu_auth_challenge_headers(const struct emu_host *host, const char *hostname,
                                struct evkeyvalq *headers)
{
  char basic[200];

  /* Exchange order: Negotiate, NTLM, then Basic. */
  if(host->negotiate)
    evhttp_add_header(headers, "WWW-Authenticate", "Negotiate");
  if(host->ntlm)
    evhttp_add_header(headers, "WWW-Authenticate", "NTLM");
  if(host->basic) {
    snprintf(basic, sizeof(basic), "Basic realm=\"%s\"",
             hostname && *hostname ? hostname : "exsync");
    evhttp_add_header(headers, "WWW-Authenticate", basic);
  }
}

int emu_set_keytab(struct emu *emu, const char *keytab, char *err, size_t errlen)
{
  struct emu_krb *k = emu_krb_new(keytab, err, errlen);

  if(!k)
    return -1;
  emu_world_write(emu);
  emu_krb_free(emu->krb);
  emu->krb = k;
  emu_world_unlock(emu);
  return 0;
}

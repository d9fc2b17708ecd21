/* auth.c - HTTP authentication for the emulator.
 *
 * Basic is verified here. NTLM and Negotiate (NTLM inside SPNEGO) are a
 * hook: auth_ntlm() is where the server side of MS-NLMP (emulator/ntlm.c,
 * written separately) plugs in; it needs the per-connection state, which is
 * why the connection is passed down. Until it lands, an NTLM or Negotiate
 * attempt is answered with a plain 401 (the scheme is still advertised so
 * clients can see the host's configuration).
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

static void conn_closed(struct evhttp_connection *conn, void *arg)
{
  struct emu *emu = arg;

  pthread_mutex_lock(&emu->lock);
  for(struct emu_conn_auth **pp = &emu->conn_auth; *pp; pp = &(*pp)->next) {
    if((*pp)->conn == conn) {
      struct emu_conn_auth *ca = *pp;
      *pp = ca->next;
      if(ca->ntlm && ca->ntlm_free)
        ca->ntlm_free(ca->ntlm);
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
  for(ca = emu->conn_auth; ca; ca = ca->next)
    if(ca->conn == conn)
      return ca;
  if(!create)
    return NULL;
  ca = calloc(1, sizeof(*ca));
  if(!ca)
    return NULL;
  ca->conn = conn;
  ca->next = emu->conn_auth;
  emu->conn_auth = ca;
  evhttp_connection_set_closecb(conn, conn_closed, emu);
  return ca;
}

void emu_conn_auth_clear(struct emu *emu)
{
  while(emu->conn_auth) {
    struct emu_conn_auth *ca = emu->conn_auth;
    emu->conn_auth = ca->next;
    if(ca->ntlm && ca->ntlm_free)
      ca->ntlm_free(ca->ntlm);
    free(ca);
  }
}

/* NTLM / Negotiate hook. The server side of MS-NLMP lives in ntlm.c (another
 * engineer's module); it is expected to provide "take a type 1 message, give
 * a type 2 challenge (and handshake state)" and "take a type 3 message and
 * that state, verify the NTLMv2 response against the user's password, give
 * the login". Wiring, here:
 *   struct emu_conn_auth *ca = emu_conn_auth_get(emu, conn, true);
 *   type 1: ca->ntlm = <state>, ca->ntlm_free = <its destructor>; write
 *           "NTLM <base64 type 2>" (or "Negotiate ...") into challenge;
 *           return EMU_AUTH_CONTINUE (the server answers 401 with it);
 *   type 3: verify with ca->ntlm; on success copy the login into ca->login,
 *           set *user = emu_user_find(emu, login), return EMU_AUTH_OK.
 * Later requests on the same connection are then authenticated without an
 * Authorization header (see emu_auth_check). Until ntlm.c lands: refused. */
static enum emu_auth_result auth_ntlm(struct emu *emu, const char *scheme, const char *token,
                                      struct evhttp_connection *conn, struct emu_user **user,
                                      char *challenge, size_t chlen)
{
  return EMU_AUTH_BAD;
}

enum emu_auth_result emu_auth_check(struct emu *emu, const struct emu_host *host,
                                    const char *authorization, struct evhttp_connection *conn,
                                    struct emu_user **user, char *challenge, size_t chlen)
{
  *user = NULL;
  if(!authorization || !*authorization) {
    /* a connection authenticated by NTLM/Negotiate stays authenticated */
    struct emu_conn_auth *ca = emu_conn_auth_get(emu, conn, false);
    if(ca && ca->login[0] && (*user = emu_user_find(emu, ca->login)) != NULL)
      return EMU_AUTH_OK;
    return EMU_AUTH_NONE;
  }
  if(prefix_ci(authorization, "Basic ")) {
    if(!host->basic)
      return EMU_AUTH_BAD;
    return auth_basic(emu, authorization + 6, user);
  }
  if(prefix_ci(authorization, "NTLM ") && host->ntlm)
    return auth_ntlm(emu, "NTLM", authorization + 5, conn, user, challenge, chlen);
  if(prefix_ci(authorization, "Negotiate ") && host->negotiate)
    return auth_ntlm(emu, "Negotiate", authorization + 10, conn, user, challenge, chlen);
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

/* admin.c - the admin API under /_emulator/ (no authentication: bind the
 * emulator to loopback). JSON answers.
 *
 *   GET    /_emulator/health             {"status":"ok",...}
 *   POST   /_emulator/reset              reload the scenario (if any), clear journal and faults
 *   POST   /_emulator/load               body: a file name of the --scenario-dir
 *   GET    /_emulator/journal            every journal entry
 *   POST   /_emulator/faults             body: a fault spec -> {"id":N}
 *   DELETE /_emulator/faults  (or POST /_emulator/faults/clear)
 *   POST   /_emulator/deliver?from=A&to=B&subject=S   body: the message text
 *
 * Runs on an event loop thread without any lock held; takes the locks it
 * needs through the public API (the world lock for writing: a reset, load
 * or inspection waits for the requests in progress and then has the world
 * to itself).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "emu_internal.h"

static void json_str(struct exs_buf *o, const char *s)
{
  exs_buf_adds(o, "\"");
  for(const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if(*p == '"' || *p == '\\')
      exs_buf_addf(o, "\\%c", *p);
    else if(*p < 0x20)
      exs_buf_addf(o, "\\u%04x", *p);
    else
      exs_buf_add(o, p, 1);
  }
  exs_buf_adds(o, "\"");
}

static int error(struct exs_buf *o, int status, const char *msg)
{
  exs_buf_reset(o);
  exs_buf_adds(o, "{\"error\":");
  json_str(o, msg);
  exs_buf_adds(o, "}");
  return status;
}

int emu_set_scenario_dir(struct emu *emu, const char *dir, char *err, size_t errlen)
{
  char *real = realpath(dir, NULL);
  struct stat st;

  if(!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s: not a directory", dir);
    free(real);
    return -1;
  }
  pthread_mutex_lock(&emu->lock);
  free(emu->scenario_dir);
  emu->scenario_dir = real;
  pthread_mutex_unlock(&emu->lock);
  return 0;
}

/* POST /_emulator/load: body is the name of a file of the scenario
 * directory. Messages name the file as asked and never quote it (a parse
 * error goes to the emulator's log, not to the caller), and a name
 * resolving outside the directory is "not there", like one that is absent. */
static int load_from_dir(struct emu *emu, const char *body, size_t len, char *name, size_t namelen,
                         char *err, size_t errlen)
{
  char path[4200], detail[1024];
  char *real = NULL, *dir;
  size_t n = strcspn(body, "\r\n"), dl, i;
  int status = 404;

  if(n > len)
    n = len;
  if(n == 0 || n >= namelen) {
    snprintf(err, errlen, "load needs the name of a scenario file (at most %zu bytes)",
             namelen - 1);
    return 400;
  }
  memcpy(name, body, n);
  name[n] = '\0';
  for(i = 0; i < n; i++)
    if(!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
         (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
         name[i] == '-') ||
       name[0] == '.') {
      snprintf(err, errlen,
               "load: a scenario is named by a plain file name of the scenario "
               "directory (letters, digits, '.', '_', '-')");
      return 400;
    }
  pthread_mutex_lock(&emu->lock);
  dir = emu->scenario_dir ? strdup(emu->scenario_dir) : NULL;
  pthread_mutex_unlock(&emu->lock);
  if(!dir) {
    snprintf(err, errlen, "load is off: the emulator was started without --scenario-dir");
    return 403;
  }
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  real = realpath(path, NULL);
  dl = strlen(dir);
  if(!real || strncmp(real, dir, dl) || real[dl] != '/') {
    snprintf(err, errlen, "no scenario '%s' in the scenario directory", name);
    goto out;
  }
  if(emu_load_scenario(emu, real, detail, sizeof(detail)) != 0) {
    fprintf(stderr, "exsync-emulator: load: %s\n", detail);
    snprintf(err, errlen, "'%s' is not a usable scenario (the emulator's log says why)", name);
    status = 400;
    goto out;
  }
  status = 200;
out:
  free(real);
  free(dir);
  return status;
}

/* GET /health: counts read under the world lock. */
static int admin_health(struct emu *emu, struct exs_buf *out)
{
  size_t nm, nu;

  emu_world_read(emu);
  nm = emu->nmailboxes;
  nu = emu->nusers;
  emu_world_unlock(emu);
  exs_buf_addf(out, "{\"status\":\"ok\",\"users\":%zu,\"mailboxes\":%zu,\"journal\":%zu}", nu, nm,
               emu_journal_count(emu));
  return 200;
}

/* One journal entry as a JSON object. */
static void journal_entry_json(struct exs_buf *out, const struct emu_journal_entry *e, bool first)
{
  exs_buf_addf(out,
               "%s{\"seq\":%llu,\"time_ms\":%lld,\"start_ms\":%lld,\"host\":", first ? "" : ",",
               (unsigned long long)e->seq, (long long)e->time_ms, (long long)e->start_ms);
  json_str(out, e->host);
  exs_buf_adds(out, ",\"client\":");
  json_str(out, e->client);
  exs_buf_adds(out, ",\"method\":");
  json_str(out, e->method);
  exs_buf_adds(out, ",\"path\":");
  json_str(out, e->path);
  exs_buf_adds(out, ",\"operation\":");
  json_str(out, e->operation);
  exs_buf_adds(out, ",\"auth_user\":");
  json_str(out, e->auth_user);
  exs_buf_adds(out, ",\"auth_scheme\":");
  json_str(out, e->auth_scheme);
  exs_buf_adds(out, ",\"mailbox\":");
  json_str(out, e->mailbox);
  exs_buf_adds(out, ",\"impersonated\":");
  json_str(out, e->impersonated);
  exs_buf_addf(out, ",\"auth_failed\":%s", e->auth_failed ? "true" : "false");
  exs_buf_adds(out, ",\"response_code\":");
  json_str(out, e->response_code);
  exs_buf_addf(out, ",\"status\":%d,\"in_flight\":%d}", e->status, e->in_flight);
}

/* GET /journal: a snapshot of every entry, as a JSON array. */
static int admin_journal(struct emu *emu, struct exs_buf *out)
{
  size_t n = emu_journal_count(emu);
  struct emu_journal_entry *e = calloc(n ? n : 1, sizeof(*e));

  if(!e)
    return error(out, 500, "out of memory");
  n = emu_journal_get(emu, 0, e, n);
  exs_buf_adds(out, "[");
  for(size_t i = 0; i < n; i++)
    journal_entry_json(out, &e[i], i == 0);
  exs_buf_adds(out, "]");
  free(e);
  return 200;
}

/* POST /deliver?from=A&to=B&subject=S, body: the message text. */
static int admin_deliver(struct emu *emu, const char *query, const char *body, size_t len,
                         struct exs_buf *out)
{
  char err[1024];
  struct evkeyvalq q;
  char *text;
  int rc;

  memset(&q, 0, sizeof(q));
  if(!query || evhttp_parse_query_str(query, &q) != 0)
    return error(out, 400, "deliver needs ?to=ADDRESS[&from=A&subject=S]");
  text = malloc(len + 1);
  if(!text) {
    evhttp_clear_headers(&q);
    return error(out, 500, "out of memory");
  }
  memcpy(text, body, len);
  text[len] = '\0';
  rc = emu_deliver_message(emu, evhttp_find_header(&q, "from"), evhttp_find_header(&q, "to"),
                           evhttp_find_header(&q, "subject"), text, err, sizeof(err));
  free(text);
  evhttp_clear_headers(&q);
  if(rc != 0)
    return error(out, 400, err);
  exs_buf_adds(out, "{\"status\":\"ok\"}");
  return 200;
}

int emu_admin_handle(struct emu *emu, const char *method, const char *path, const char *query,
                     const char *body, size_t len, struct exs_buf *out)
{
  char err[1024];
  const char *p = path + strlen("/_emulator");
  bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;

  if(strcmp(p, "/health") == 0 && get)
    return admin_health(emu, out);
  if(strcmp(p, "/reset") == 0 && post) {
    if(emu_reset(emu, err, sizeof(err)) != 0)
      return error(out, 500, err);
    exs_buf_adds(out, "{\"status\":\"ok\"}");
    return 200;
  }
  if(strcmp(p, "/load") == 0 && post) {
    char name[256];
    int status = load_from_dir(emu, body, len, name, sizeof(name), err, sizeof(err));
    if(status != 200)
      return error(out, status, err);
    exs_buf_adds(out, "{\"status\":\"ok\"}");
    return 200;
  }
  if(strcmp(p, "/journal") == 0 && get)
    return admin_journal(emu, out);
  if(strcmp(p, "/faults") == 0 && post) {
    char spec[2048];
    int id;
    snprintf(spec, sizeof(spec), "%.*s", (int)(len < sizeof(spec) ? len : sizeof(spec) - 1), body);
    id = emu_add_fault(emu, spec, err, sizeof(err));
    if(id < 0)
      return error(out, 400, err);
    exs_buf_addf(out, "{\"id\":%d}", id);
    return 200;
  }
  if((strcmp(p, "/faults") == 0 && strcmp(method, "DELETE") == 0) ||
     (strcmp(p, "/faults/clear") == 0 && post)) {
    emu_clear_faults(emu);
    exs_buf_adds(out, "{\"status\":\"ok\"}");
    return 200;
  }
  if(strcmp(p, "/deliver") == 0 && post)
    return admin_deliver(emu, query, body, len, out);
  return error(out, 404, "unknown admin path");
}

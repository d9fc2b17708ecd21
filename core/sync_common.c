/* sync_common.c - helpers the sync workloads share: stop requests, the log,
 * per-item errors, per-mailbox values in the sync_states table, and the
 * tracking token and marker property of exsync's outgoing emails. */
#include "sync_common.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct exs_ews_extprop exs_sync_marker_prop = {"PublicStrings", "exsync.ActivityId", NULL,
                                                     "String"};

bool sync_stopping(const struct sync_session *s)
{
  return s->opt->stop && *s->opt->stop;
}

void sync_log(const struct sync_session *s, const char *fmt, ...)
{
  char line[1024];
  va_list ap;

  if(!s->opt->log)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  s->opt->log(s->opt->log_ctx, line);
}

void sync_item_error(struct exs_error *err, const struct exs_error *item, const char *url)
{
  *err = *item;
  if(!err->http_status)
    err->http_status = 200;
  if(!err->url[0])
    snprintf(err->url, sizeof(err->url), "%s", url);
}

int sync_meta_get(struct sync_session *s, const char *key, char *out, size_t len)
{
  struct exs_error err;
  char *v = NULL;

  out[0] = '\0';
  exs_error_clear(&err);
  if(exs_store_syncstate_get(s->st, s->m->address, key, &v, &err) != 0)
    return -1;
  snprintf(out, len, "%s", v);
  free(v);
  return 0;
}

int sync_meta_put(struct sync_session *s, const char *key, const char *value, struct exs_error *err)
{
  return exs_store_syncstate_put(s->st, s->m->address, key, value, err);
}

bool exs_sync_find_token(const char *subject, const char *prefix, char *token, size_t len)
{
  const char *p;
  size_t pl;

  if(!subject || !prefix || !*prefix)
    return false;
  pl = strlen(prefix);
  for(p = strstr(subject, prefix); p; p = strstr(p + 1, prefix)) {
    const char *d = p + pl;
    size_t n = 0;
    while(isdigit((unsigned char)d[n]))
      n++;
    if(n > 0 && n < 32) {
      snprintf(token, len, "%.*s", (int)(pl + n), p);
      return true;
    }
  }
  return false;
}

/* faults.c - fault descriptions (text form shared by the API, scenario files
 * and the admin API), matching and firing.
 *
 * A spec is space-separated key=value words:
 *   scope:   host=H mailbox=SMTP operation=OP user=LOGIN   (absent: any)
 *   effect:  ews-code=CODE [backoff-ms=N] | http-status=N | reset | truncated |
 *            malformed | cut-after=N (N bytes of the answer's body, then the
 *            connection closes) | drip-bytes=N and/or drip-ms=M (the answer
 *            sent N bytes at a time, one piece every M ms; defaults 64 and 10) |
 *            delay-ms=N or delay-ms=MIN-MAX, alias stall-ms (a stall before
 *            answering; may accompany an effect)
 *   when:    times=N (first N matches) every=N (every Nth match)
 *            probability=P (0..1, from the fault's seeded generator) seed=N
 * Callers hold the world lock for writing for the *_locked functions (and
 * for reading for emu_fault_match, which takes fault_lock: the counters and
 * generators are shared by every thread, so "the Nth request" is the Nth
 * the emulator matched, whichever thread answers it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu_internal.h"

static uint64_t xorshift(uint64_t *s)
{
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}

void emu_fault_free(struct emu_fault *f)
{
  if(!f)
    return;
  free(f->host);
  free(f->mailbox);
  free(f->operation);
  free(f->user);
  free(f->ews_code);
  free(f);
}

static int parse_long(const char *v, long min, long max, long *out)
{
  char *end;
  long n;

  errno = 0;
  n = strtol(v, &end, 10);
  if(errno || end == v || *end || n < min || n > max)
    return -1;
  *out = n;
  return 0;
}

/* A scope word (host, mailbox, operation, user): true when key is one. */
static bool scope_word(struct emu_fault *f, const char *key, const char *v)
{
  char **field = strcmp(key, "host") == 0        ? &f->host
                 : strcmp(key, "mailbox") == 0   ? &f->mailbox
                 : strcmp(key, "operation") == 0 ? &f->operation
                 : strcmp(key, "user") == 0      ? &f->user
                                                 : NULL;

  if(!field)
    return false;
  free(*field);
  *field = emu_strdup(v);
  return true;
}

/* delay-ms=N or delay-ms=MIN-MAX. */
static int delay_word(struct emu_fault *f, const char *v)
{
  char *dash = strchr(v, '-');
  long lo, hi;

  if(dash) {
    char lobuf[32];
    snprintf(lobuf, sizeof(lobuf), "%.*s", (int)(dash - v), v);
    if(parse_long(lobuf, 0, 600000, &lo) != 0 || parse_long(dash + 1, lo, 600000, &hi) != 0)
      return -1;
  }
  else {
    if(parse_long(v, 0, 600000, &lo) != 0)
      return -1;
    hi = lo;
  }
  f->delay_ms = lo;
  f->delay_max_ms = hi;
  return 0;
}

/* An effect or "when" word; has_eq: the word had a '='. -1 when the word or
 * its value is not one we know. */
static int effect_word(struct emu_fault *f, const char *tok, bool has_eq, const char *v,
                       bool *have_effect)
{
  bool flag = !has_eq || strcmp(v, "yes") == 0;
  long n;

  if(strcmp(tok, "ews-code") == 0 && *v) {
    free(f->ews_code);
    f->ews_code = emu_strdup(v);
    f->kind = EMU_FAULT_EWS;
  }
  else if(strcmp(tok, "backoff-ms") == 0 && parse_long(v, 0, 86400000L, &n) == 0) {
    f->backoff_ms = n;
    return 0;
  }
  else if(strcmp(tok, "http-status") == 0 && parse_long(v, 100, 599, &n) == 0) {
    f->http_status = (int)n;
    f->kind = EMU_FAULT_HTTP;
  }
  else if(strcmp(tok, "cut-after") == 0 && parse_long(v, 0, 1000000000L, &n) == 0) {
    f->cut_after = n;
    f->kind = EMU_FAULT_CUT;
  }
  else if(strcmp(tok, "drip-bytes") == 0 && parse_long(v, 1, 1000000L, &n) == 0) {
    f->drip_bytes = n;
    f->kind = EMU_FAULT_DRIP;
  }
  else if(strcmp(tok, "drip-ms") == 0 && parse_long(v, 0, 60000L, &n) == 0) {
    f->drip_ms = n;
    f->kind = EMU_FAULT_DRIP;
  }
  else if(strcmp(tok, "delay-ms") == 0 || strcmp(tok, "stall-ms") == 0) {
    return delay_word(f, v);
  }
  else if(strcmp(tok, "reset") == 0 && flag) {
    f->kind = EMU_FAULT_RESET;
  }
  else if(strcmp(tok, "truncated") == 0 && flag) {
    f->kind = EMU_FAULT_TRUNCATED;
  }
  else if(strcmp(tok, "malformed") == 0 && flag) {
    f->kind = EMU_FAULT_MALFORMED;
  }
  else if(strcmp(tok, "times") == 0 && parse_long(v, 1, 1000000000L, &n) == 0) {
    f->times = n;
    return 0;
  }
  else if(strcmp(tok, "every") == 0 && parse_long(v, 1, 1000000000L, &n) == 0) {
    f->every = n;
    return 0;
  }
  else if(strcmp(tok, "seed") == 0 && parse_long(v, 0, 2147483647L, &n) == 0) {
    f->rng = (uint64_t)n * 0x9e3779b97f4a7c15ull + 1;
    return 0;
  }
  else if(strcmp(tok, "probability") == 0) {
    char *end;
    double p = strtod(v, &end);
    if(end == v || *end || p < 0.0 || p > 1.0)
      return -1;
    f->probability = p;
    return 0;
  }
  else {
    return -1;
  }
  *have_effect = true;
  return 0;
}

struct emu_fault *emu_fault_parse(const char *spec, char *err, size_t errlen)
{
  struct emu_fault *f = calloc(1, sizeof(*f));
  char *copy = emu_strdup(spec ? spec : "");
  char *save = NULL, *tok;
  bool have_effect = false;

  if(!f || !copy)
    goto fail_mem;
  f->kind = EMU_FAULT_DELAY;
  f->backoff_ms = -1;
  f->probability = 1.0;
  f->rng = 0x853c49e6748fea9bull;
  for(tok = strtok_r(copy, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
    char *eq = strchr(tok, '=');
    const char *v = eq ? eq + 1 : "";
    if(eq)
      *eq = '\0';
    if(scope_word(f, tok, v))
      continue;
    if(effect_word(f, tok, eq != NULL, v, &have_effect) != 0) {
      snprintf(err, errlen, "bad fault word \"%s%s%s\"", tok, eq ? "=" : "", v);
      goto fail;
    }
  }
  if(!have_effect && f->delay_max_ms == 0) {
    snprintf(err, errlen,
             "fault has no effect (ews-code, http-status, delay-ms, reset, "
             "truncated, malformed, cut-after, drip-bytes or drip-ms)");
    goto fail;
  }
  if(f->kind == EMU_FAULT_DRIP) {
    if(!f->drip_bytes)
      f->drip_bytes = 64;
    if(!f->drip_ms && !strstr(spec, "drip-ms="))
      f->drip_ms = 10;
  }
  free(copy);
  return f;
fail_mem:
  snprintf(err, errlen, "out of memory");
fail:
  free(copy);
  emu_fault_free(f);
  return NULL;
}

int emu_fault_add_locked(struct emu *emu, struct emu_fault *f)
{
  struct emu_fault **n = realloc(emu->faults, (emu->nfaults + 1) * sizeof(*n));

  if(!n)
    return -1;
  emu->faults = n;
  f->id = emu->next_fault_id++;
  emu->faults[emu->nfaults++] = f;
  return f->id;
}

void emu_faults_clear_locked(struct emu *emu)
{
  for(size_t i = 0; i < emu->nfaults; i++)
    emu_fault_free(emu->faults[i]);
  free(emu->faults);
  emu->faults = NULL;
  emu->nfaults = 0;
}

static bool scope_ok(const char *want, const char *have)
{
  return !want || !*want || (have && strcasecmp(want, have) == 0);
}

struct emu_fault *emu_fault_match(struct emu *emu, const char *host, const char *mailbox,
                                  const char *operation, const char *user, long *delay_ms)
{
  struct emu_fault *hit = NULL;

  *delay_ms = 0;
  pthread_mutex_lock(&emu->fault_lock);
  for(size_t i = 0; i < emu->nfaults && !hit; i++) {
    struct emu_fault *f = emu->faults[i];
    if(!scope_ok(f->host, host) || !scope_ok(f->mailbox, mailbox) ||
       !scope_ok(f->operation, operation) || !scope_ok(f->user, user))
      continue;
    f->seen++;
    if(f->times && f->fired >= f->times)
      continue;
    if(f->every && f->seen % f->every != 0)
      continue;
    if(f->probability < 1.0) {
      double r = (double)(xorshift(&f->rng) >> 11) / (double)(1ull << 53);
      if(r >= f->probability)
        continue;
    }
    f->fired++;
    f->cur_delay_ms = f->delay_ms;
    if(f->delay_max_ms > f->delay_ms)
      f->cur_delay_ms =
          f->delay_ms + (long)(xorshift(&f->rng) % (uint64_t)(f->delay_max_ms - f->delay_ms + 1));
    *delay_ms = f->cur_delay_ms;
    hit = f;
  }
  pthread_mutex_unlock(&emu->fault_lock);
  return hit;
}

int emu_add_fault(struct emu *emu, const char *spec, char *err, size_t errlen)
{
  struct emu_fault *f = emu_fault_parse(spec, err, errlen);
  int id;

  if(!f)
    return -1;
  emu_world_write(emu);
  id = emu_fault_add_locked(emu, f);
  emu_world_unlock(emu);
  if(id < 0) {
    emu_fault_free(f);
    snprintf(err, errlen, "out of memory");
  }
  return id;
}

void emu_clear_faults(struct emu *emu)
{
  emu_world_write(emu);
  emu_faults_clear_locked(emu);
  emu_world_unlock(emu);
}

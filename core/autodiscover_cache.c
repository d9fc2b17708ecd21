/* autodiscover_cache.c - the per-domain Autodiscover cache, thread-safe,
 * one search per domain at a time (autodiscover_cache.h). */
#include "autodiscover_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ENTRIES 64

struct entry {
  char domain[256];
  char endpoint[EXS_AD_URL_MAX];
  enum exs_ad_method method;
  bool searching; /* a handle is searching: no endpoint yet */
};

struct exs_autodiscover_cache {
  pthread_mutex_t lock;
  pthread_cond_t answered; /* a search ended */
  struct entry e[MAX_ENTRIES];
  size_t n;
};

struct exs_autodiscover_cache *exs_autodiscover_cache_new(void)
{
  struct exs_autodiscover_cache *c = calloc(1, sizeof(*c));

  if(!c)
    return NULL;
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->answered, NULL);
  return c;
}

void exs_autodiscover_cache_free(struct exs_autodiscover_cache *c)
{
  if(!c)
    return;
  pthread_cond_destroy(&c->answered);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

static struct entry *find(struct exs_autodiscover_cache *c, const char *domain)
{
  size_t i;

  for(i = 0; i < c->n; i++)
    if(!strcasecmp(c->e[i].domain, domain))
      return &c->e[i];
  return NULL;
}

static void drop(struct exs_autodiscover_cache *c, struct entry *e)
{
  size_t i = (size_t)(e - c->e);

  memmove(&c->e[i], &c->e[i + 1], (c->n - i - 1) * sizeof(*e));
  c->n--;
}

/* A new entry for domain; when full, the oldest answered one makes room.
 * NULL when every entry is a search in progress. */
static struct entry *add(struct exs_autodiscover_cache *c, const char *domain)
{
  struct entry *e;
  size_t i;

  if(c->n == MAX_ENTRIES) {
    for(i = 0; i < c->n && c->e[i].searching; i++)
      ;
    if(i == c->n)
      return NULL;
    drop(c, &c->e[i]);
  }
  e = &c->e[c->n++];
  memset(e, 0, sizeof(*e));
  snprintf(e->domain, sizeof(e->domain), "%s", domain);
  return e;
}

int ad_cache_take(struct exs_autodiscover_cache *c, const char *domain, char *endpoint, size_t len,
                  enum exs_ad_method *method)
{
  struct entry *e;
  int hit = 0;

  pthread_mutex_lock(&c->lock);
  while((e = find(c, domain)) != NULL && e->searching)
    pthread_cond_wait(&c->answered, &c->lock);
  if(e) {
    snprintf(endpoint, len, "%s", e->endpoint);
    *method = e->method;
    hit = 1;
  }
  else if((e = add(c, domain)) != NULL) {
    e->searching = true; /* the others wait for this caller's ad_cache_done */
  }
  pthread_mutex_unlock(&c->lock);
  return hit;
}

void ad_cache_done(struct exs_autodiscover_cache *c, const char *domain, const char *endpoint,
                   enum exs_ad_method method)
{
  struct entry *e;

  pthread_mutex_lock(&c->lock);
  e = find(c, domain);
  if(endpoint) {
    if(!e)
      e = add(c, domain);
    if(e) {
      snprintf(e->endpoint, sizeof(e->endpoint), "%s", endpoint);
      e->method = method;
      e->searching = false;
    }
  }
  else if(e && e->searching) {
    drop(c, e); /* not found: the next handle searches with its own credentials */
  }
  pthread_cond_broadcast(&c->answered);
  pthread_mutex_unlock(&c->lock);
}

void ad_cache_forget(struct exs_autodiscover_cache *c, const char *domain)
{
  struct entry *e;

  pthread_mutex_lock(&c->lock);
  e = find(c, domain);
  if(e && !e->searching)
    drop(c, e);
  pthread_mutex_unlock(&c->lock);
}

void ad_cache_clear(struct exs_autodiscover_cache *c)
{
  size_t i = 0;

  pthread_mutex_lock(&c->lock);
  while(i < c->n) {
    if(c->e[i].searching)
      i++;
    else
      drop(c, &c->e[i]);
  }
  pthread_mutex_unlock(&c->lock);
}

/* autodiscover_cache.h - the per-domain Autodiscover cache (private to
 * core): what a search found, shared by the handles of a run
 * (struct exs_autodiscover_cache in exsync/autodiscover.h). A domain is
 * searched by one handle at a time: the others wait for its answer. */
#ifndef EXSYNC_AUTODISCOVER_CACHE_H
#define EXSYNC_AUTODISCOVER_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/autodiscover.h"

/* The endpoint known for domain: 1 with endpoint and *method filled, or 0
 * when the caller is to search it, and then must call ad_cache_done for
 * domain. Waits while another handle searches domain. */
int ad_cache_take(struct exs_autodiscover_cache *c, const char *domain, char *endpoint, size_t len,
                  enum exs_ad_method *method);
/* The search for domain ended: endpoint found (NULL: none). Wakes the
 * handles waiting for domain. */
void ad_cache_done(struct exs_autodiscover_cache *c, const char *domain, const char *endpoint,
                   enum exs_ad_method method);
/* The cached endpoint of domain failed: forget it. */
void ad_cache_forget(struct exs_autodiscover_cache *c, const char *domain);
/* Forget every endpoint (a search in progress stays). */
void ad_cache_clear(struct exs_autodiscover_cache *c);

#endif

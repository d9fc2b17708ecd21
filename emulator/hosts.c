/* hosts.c - the emulator's virtual hosts (by Host header): what each
 * serves and accepts. The scenario fills the table, the server looks hosts
 * up; a name the table lacks gets the catch-all host "*" or the default. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu_internal.h"

/* The host used when the scenario names none that matches: serves
 * everything and accepts every scheme. */
static struct emu_host default_host = {
    .name = (char *)"*",
    .ews = true,
    .pox = true,
    .soap = true,
    .basic = true,
    .ntlm = true,
    .negotiate = true,
};

struct emu_host *emu_host_find(struct emu *emu, const char *name)
{
  struct emu_host *star = NULL;

  for(size_t i = 0; i < emu->nhosts; i++) {
    if(name && strcasecmp(emu->hosts[i]->name, name) == 0)
      return emu->hosts[i];
    if(strcmp(emu->hosts[i]->name, "*") == 0)
      star = emu->hosts[i];
  }
  return star ? star : &default_host;
}

struct emu_host *emu_host_add(struct emu *emu, const char *name)
{
  struct emu_host **n;
  struct emu_host *h;

  for(size_t i = 0; i < emu->nhosts; i++)
    if(strcasecmp(emu->hosts[i]->name, name) == 0)
      return emu->hosts[i];
  n = realloc(emu->hosts, (emu->nhosts + 1) * sizeof(*n));
  if(!n)
    return NULL;
  emu->hosts = n;
  h = calloc(1, sizeof(*h));
  if(!h)
    return NULL;
  *h = default_host;
  h->name = emu_strdup_lower(name);
  emu->hosts[emu->nhosts++] = h;
  return h;
}

void emu_hosts_clear(struct emu *emu)
{
  for(size_t i = 0; i < emu->nhosts; i++) {
    struct emu_host *h = emu->hosts[i];
    free(h->name);
    free(h->redirect_location);
    free(h->ews_url);
    free(h->ews_host);
    free(h->ad_target);
    free(h->tls_variant);
    free(h);
  }
  free(emu->hosts);
  emu->hosts = NULL;
  emu->nhosts = 0;
}

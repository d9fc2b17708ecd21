/* bench_scenario.c - the large-world scenario generator (bench_scenario.h). */
#include "bench_scenario.h"

#include <stdio.h>

const char *bench_scenario_address(const struct bench_world *w, size_t i, char *out, size_t len)
{
  snprintf(out, len, "%s%05zu@%s", w->prefix, i, w->domain);
  return out;
}

static void items(FILE *f, size_t n)
{
  for(size_t k = 0; k < n; k++)
    fprintf(f, "<message subject=\"Item %zu\">Body of item %zu.</message>\n", k, k);
}

long bench_scenario_write(const char *path, const struct bench_world *w)
{
  FILE *f = fopen(path, "w");
  char addr[320];
  long result = -1;

  if(!f)
    return -1;
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
          "<scenario xmlns=\"urn:exsync:scenario:1\" name=\"bench\" seed=\"1\">\n"
          "<user login=\"%s\" password=\"%s\" domain=\"BENCH\" mailbox=\"%s@%s\" "
          "impersonate-all=\"yes\"/>\n"
          "<mailbox address=\"%s@%s\" display-name=\"Service\" owner=\"%s\">\n",
          w->login, w->password, w->login, w->domain, w->login, w->domain, w->login);
  items(f, w->items);
  fprintf(f, "</mailbox>\n");
  for(size_t i = 0; i < w->mailboxes; i++) {
    fprintf(f, "<mailbox address=\"%s\" display-name=\"Mailbox %zu\">\n",
            bench_scenario_address(w, i, addr, sizeof(addr)), i);
    items(f, w->items);
    fprintf(f, "</mailbox>\n");
  }
  fprintf(f, "</scenario>\n");
  result = ferror(f) ? -1 : ftell(f);
  if(fclose(f) != 0)
    result = -1;
  return result;
}

/* journal.c - bounded ring of answered requests plus per-user in-flight maxima.
 * An entry says which client sent the request (its User-Agent: exsync's
 * names its worker) and when it arrived and was answered (ms); its seq is
 * the order in which the emulator handled them.
 *
 * The ring holds the newest EMU_JOURNAL_CAP entries; the oldest are dropped
 * first. Every function takes emu->journal_lock.
 */
#include <stdlib.h>
#include <string.h>

#include "emu_internal.h"
#include "exsync/clock.h"

int emu_journal_init(struct emu_journal *j, size_t cap)
{
  memset(j, 0, sizeof(*j));
  j->ring = calloc(cap, sizeof(*j->ring));
  if(!j->ring)
    return -1;
  j->cap = cap;
  j->next_seq = 1;
  return 0;
}

void emu_journal_destroy(struct emu_journal *j)
{
  free(j->ring);
  free(j->max_users);
  free(j->max_values);
  memset(j, 0, sizeof(*j));
}

static void note_max(struct emu_journal *j, const char *user, int v)
{
  if(v > j->max_any)
    j->max_any = v;
  if(!user || !*user)
    return;
  for(size_t i = 0; i < j->nmax; i++) {
    if(strcmp(j->max_users[i], user) == 0) {
      if(v > j->max_values[i])
        j->max_values[i] = v;
      return;
    }
  }
  {
    char(*nu)[128] = realloc(j->max_users, (j->nmax + 1) * sizeof(*nu));
    int *nv;
    if(!nu)
      return;
    j->max_users = nu;
    nv = realloc(j->max_values, (j->nmax + 1) * sizeof(*nv));
    if(!nv)
      return;
    j->max_values = nv;
    snprintf(j->max_users[j->nmax], 128, "%s", user);
    j->max_values[j->nmax] = v;
    j->nmax++;
  }
}

void emu_journal_add(struct emu *emu, struct emu_journal_entry *e)
{
  struct emu_journal *j = &emu->journal;
  size_t slot;

  if(!j->cap)
    return;
  pthread_mutex_lock(&emu->journal_lock);
  /* time and number under the lock: both grow along the journal */
  e->time_ms = exs_now_ms();
  if(j->count == j->cap) {
    slot = j->start;
    j->start = (j->start + 1) % j->cap;
  }
  else {
    slot = (j->start + j->count) % j->cap;
    j->count++;
  }
  j->ring[slot] = *e;
  j->ring[slot].seq = j->next_seq++;
  note_max(j, e->auth_user, e->in_flight);
  pthread_mutex_unlock(&emu->journal_lock);
}

size_t emu_journal_count(struct emu *emu)
{
  size_t n;

  pthread_mutex_lock(&emu->journal_lock);
  n = emu->journal.count;
  pthread_mutex_unlock(&emu->journal_lock);
  return n;
}

size_t emu_journal_get(struct emu *emu, size_t from, struct emu_journal_entry *out, size_t max)
{
  struct emu_journal *j = &emu->journal;
  size_t n = 0;

  pthread_mutex_lock(&emu->journal_lock);
  for(size_t i = from; i < j->count && n < max; i++, n++)
    out[n] = j->ring[(j->start + i) % j->cap];
  pthread_mutex_unlock(&emu->journal_lock);
  return n;
}

void emu_journal_clear(struct emu *emu)
{
  struct emu_journal *j = &emu->journal;

  pthread_mutex_lock(&emu->journal_lock);
  j->start = j->count = 0;
  j->nmax = 0;
  j->max_any = 0;
  pthread_mutex_unlock(&emu->journal_lock);
}

int emu_journal_max_in_flight(struct emu *emu, const char *login)
{
  struct emu_journal *j = &emu->journal;
  int v = 0;

  pthread_mutex_lock(&emu->journal_lock);
  if(!login || !*login) {
    v = j->max_any;
  }
  else {
    for(size_t i = 0; i < j->nmax; i++)
      if(strcmp(j->max_users[i], login) == 0)
        v = j->max_values[i];
  }
  pthread_mutex_unlock(&emu->journal_lock);
  return v;
}

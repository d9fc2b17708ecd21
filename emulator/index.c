/* index.c - hash indexes of the mailstore: folder and item numbers to
 * objects, SMTP addresses to mailboxes, so lookups stay O(1) with 10,000
 * mailboxes of 100 items. Open addressing with linear probing and
 * backward-shift deletion. Callers hold emu->store_lock (or the world lock for
 * writing; the mailbox index changes only then).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu_internal.h"

static uint64_t mix(uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static uint64_t hash_str_ci(const char *s)
{
  uint64_t h = 0xcbf29ce484222325ull;

  for(; *s; s++) {
    h ^= (unsigned char)tolower((unsigned char)*s);
    h *= 0x100000001b3ull;
  }
  return mix(h);
}

void emu_index_free(struct emu_index *ix)
{
  free(ix->keys);
  free(ix->vals);
  memset(ix, 0, sizeof(*ix));
}

static int grow(struct emu_index *ix);

static size_t slot_of(const struct emu_index *ix, uint64_t h)
{
  return (size_t)(h & (ix->cap - 1));
}

/* keys: 0 = empty. Numbers start at 1; string entries store their hash | 1. */
static int put(struct emu_index *ix, uint64_t key, void *val)
{
  size_t i;

  if((ix->n + 1) * 4 > ix->cap * 3 && grow(ix) != 0)
    return -1;
  for(i = slot_of(ix, mix(key)); ix->keys[i]; i = (i + 1) & (ix->cap - 1)) {
    if(ix->keys[i] == key && (!ix->strings || ix->vals[i] == val))
      break;
  }
  if(!ix->keys[i])
    ix->n++;
  ix->keys[i] = key;
  ix->vals[i] = val;
  return 0;
}

static int grow(struct emu_index *ix)
{
  struct emu_index old = *ix;
  size_t ncap = ix->cap ? ix->cap * 2 : 64;

  ix->keys = calloc(ncap, sizeof(*ix->keys));
  ix->vals = calloc(ncap, sizeof(*ix->vals));
  if(!ix->keys || !ix->vals) {
    free(ix->keys);
    free(ix->vals);
    *ix = old;
    return -1;
  }
  ix->cap = ncap;
  ix->n = 0;
  for(size_t i = 0; i < old.cap; i++)
    if(old.keys[i])
      put(ix, old.keys[i], old.vals[i]);
  free(old.keys);
  free(old.vals);
  return 0;
}

static void del_at(struct emu_index *ix, size_t i)
{
  size_t j = i;

  ix->keys[i] = 0;
  ix->vals[i] = NULL;
  ix->n--;
  /* backward shift: move later entries of the cluster into the hole */
  for(;;) {
    size_t home;
    j = (j + 1) & (ix->cap - 1);
    if(!ix->keys[j])
      return;
    home = slot_of(ix, mix(ix->keys[j]));
    if((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
      ix->keys[i] = ix->keys[j];
      ix->vals[i] = ix->vals[j];
      ix->keys[j] = 0;
      ix->vals[j] = NULL;
      i = j;
    }
  }
}

int emu_index_put(struct emu_index *ix, uint64_t num, void *val)
{
  return put(ix, num, val);
}

void *emu_index_get(const struct emu_index *ix, uint64_t num)
{
  if(!ix->cap)
    return NULL;
  for(size_t i = slot_of(ix, mix(num)); ix->keys[i]; i = (i + 1) & (ix->cap - 1))
    if(ix->keys[i] == num)
      return ix->vals[i];
  return NULL;
}

void emu_index_del(struct emu_index *ix, uint64_t num, const void *val)
{
  if(!ix->cap)
    return;
  for(size_t i = slot_of(ix, mix(num)); ix->keys[i]; i = (i + 1) & (ix->cap - 1)) {
    if(ix->keys[i] == num && (!val || ix->vals[i] == val)) {
      del_at(ix, i);
      return;
    }
  }
}

/* Mailboxes by address: the key is the string hash (never 0); equal hashes
 * are told apart by comparing the address. */
int emu_index_put_mailbox(struct emu_index *ix, struct emu_mailbox *m)
{
  ix->strings = true;
  return put(ix, hash_str_ci(m->smtp) | 1, m);
}

struct emu_mailbox *emu_index_get_mailbox(const struct emu_index *ix, const char *smtp)
{
  uint64_t key;

  if(!ix->cap || !smtp)
    return NULL;
  key = hash_str_ci(smtp) | 1;
  for(size_t i = slot_of(ix, mix(key)); ix->keys[i]; i = (i + 1) & (ix->cap - 1)) {
    struct emu_mailbox *m = ix->vals[i];
    if(ix->keys[i] == key && strcasecmp(m->smtp, smtp) == 0)
      return m;
  }
  return NULL;
}

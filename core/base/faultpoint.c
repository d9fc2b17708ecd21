/* faultpoint.c - test-only fault points (see exsync/faultpoint.h).
 *
 * The configuration is read once, at the first hit; hits are counted in a
 * small table under one lock. A kill writes the counts first, so the test
 * knows the point was reached and at which hit the process died.
 */
#include "exsync/faultpoint.h"

#ifdef EXSYNC_FAULT_POINTS

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_POINTS 64
#define MAX_ACTIONS 16
#define NAME_MAX_LEN 64

struct action {
  char name[NAME_MAX_LEN];
  long nth;
  int sig; /* SIGKILL or SIGSTOP */
};

struct point {
  const char *name; /* a string literal of the caller */
  long hits;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool active;
static struct action actions[MAX_ACTIONS];
static size_t n_actions;
static struct point points[MAX_POINTS];
static size_t n_points;
static const char *counts_path;

static void bad_config(const char *var, const char *value, const char *why)
{
  fprintf(stderr, "exsync: %s=%s: %s (expected NAME:N[,NAME:N...], N >= 1)\n", var, value, why);
  _exit(2);
}

/* Parse "NAME:N[,NAME:N...]" of var into actions with signal sig. */
static void parse_actions(const char *var, int sig)
{
  const char *value = getenv(var), *p;

  if(!value || !*value)
    return;
  for(p = value; *p;) {
    const char *end = strchr(p, ','), *colon;
    size_t len = end ? (size_t)(end - p) : strlen(p), name_len, num_len;
    char num[24], *stop;
    long nth;

    colon = memchr(p, ':', len);
    if(!colon || colon == p)
      bad_config(var, value, "an entry has no NAME:");
    name_len = (size_t)(colon - p);
    num_len = len - name_len - 1;
    if(name_len >= NAME_MAX_LEN)
      bad_config(var, value, "a point name is too long");
    if(num_len == 0 || num_len >= sizeof(num))
      bad_config(var, value, "a hit number is missing or too long");
    memcpy(num, colon + 1, num_len);
    num[num_len] = '\0';
    errno = 0;
    nth = strtol(num, &stop, 10);
    if(errno || *stop || nth < 1)
      bad_config(var, value, "a hit number is not a positive integer");
    if(n_actions == MAX_ACTIONS)
      bad_config(var, value, "more than 16 entries");
    memcpy(actions[n_actions].name, p, name_len);
    actions[n_actions].name[name_len] = '\0';
    actions[n_actions].nth = nth;
    actions[n_actions].sig = sig;
    n_actions++;
    p += len;
    if(*p == ',')
      p++;
  }
}

/* Under the lock (or at exit): the counts, and the kill about to happen. */
static void write_counts(const struct action *killed)
{
  FILE *f;
  size_t i;

  if(!counts_path)
    return;
  f = fopen(counts_path, "w");
  if(!f) {
    fprintf(stderr, "exsync: EXSYNC_FAULT_COUNTS=%s: cannot write: %s\n", counts_path,
            strerror(errno));
    return;
  }
  for(i = 0; i < n_points; i++)
    fprintf(f, "%s %ld\n", points[i].name, points[i].hits);
  if(killed)
    fprintf(f, "killed %s %ld\n", killed->name, killed->nth);
  fclose(f);
}

static void at_exit(void)
{
  pthread_mutex_lock(&lock);
  write_counts(NULL);
  pthread_mutex_unlock(&lock);
}

static void load(void)
{
  const char *counts = getenv("EXSYNC_FAULT_COUNTS");

  parse_actions("EXSYNC_FAULT_KILL", SIGKILL);
  parse_actions("EXSYNC_FAULT_STOP", SIGSTOP);
  counts_path = counts && *counts ? counts : NULL;
  active = n_actions > 0 || counts_path;
  if(counts_path)
    atexit(at_exit);
}

void exs_faultpoint_hit(const char *name)
{
  struct point *pt = NULL;
  int sig = 0;
  size_t i;

  pthread_once(&once, load);
  if(!active)
    return;
  pthread_mutex_lock(&lock);
  for(i = 0; i < n_points && !pt; i++)
    if(!strcmp(points[i].name, name))
      pt = &points[i];
  if(!pt && n_points < MAX_POINTS) {
    pt = &points[n_points++];
    pt->name = name;
  }
  if(pt) {
    pt->hits++;
    for(i = 0; i < n_actions; i++) {
      if(actions[i].nth != pt->hits || strcmp(actions[i].name, name))
        continue;
      if(actions[i].sig == SIGKILL) {
        write_counts(&actions[i]);
        raise(SIGKILL); /* the lock dies with the process */
      }
      sig = actions[i].sig;
    }
  }
  pthread_mutex_unlock(&lock);
  if(sig)
    raise(sig); /* stopped here until SIGCONT */
}

#else
typedef int exs_faultpoint_unused; /* ISO C wants a non-empty unit */
#endif

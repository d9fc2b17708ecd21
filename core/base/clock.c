/* clock.c - monotonic and wall time, with a freeze switch for replays. */
#include "exsync/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int64_t frozen_time;

int64_t exs_monotonic_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void exs_clock_freeze(time_t t)
{
  atomic_store(&frozen_time, (int64_t)t);
}

time_t exs_now(void)
{
  int64_t f = atomic_load(&frozen_time);

  return f ? (time_t)f : time(NULL);
}

int64_t exs_now_ms(void)
{
  struct timespec ts;
  time_t t = exs_now();

  /* a frozen clock (far from the real one) stays on its whole second */
  if(atomic_load(&frozen_time) || clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec > t + 1 ||
     ts.tv_sec < t - 1)
    return (int64_t)t * 1000;
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *exs_time_iso(time_t t, char *buf, size_t len)
{
  struct tm tm;

  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

static int days_from_civil(int y, int m, int d)
{
  /* proleptic Gregorian days since 1970-01-01 (H. Hinnant's algorithm) */
  int era, yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int exs_time_parse(const char *s, time_t *t)
{
  int y, mo, d, h, mi, sec, n = 0;
  const char *p;
  long off = 0;

  if(!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
    return -1;
  if(mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return -1;
  p = s + n;
  if(*p == '.') {
    p++;
    while(*p >= '0' && *p <= '9')
      p++;
  }
  if(*p == 'Z') {
    p++;
  }
  else if(*p == '+' || *p == '-') {
    int oh, om;
    if(sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
      return -1;
    off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
    p += 6;
  }
  if(*p)
    return -1;
  *t = (time_t)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
  return 0;
}

void exs_sleep_ms(int64_t ms)
{
  struct timespec ts;

  if(ms <= 0)
    return;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000;
  while(nanosleep(&ts, &ts) != 0)
    ;
}

/* exsync/clock.h - time, injectable so tests and replays can freeze it. */
#ifndef EXSYNC_CLOCK_H
#define EXSYNC_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds, for durations and deadlines. */
int64_t exs_monotonic_ms(void);
/* Wall clock in seconds since the epoch; frozen when exs_clock_freeze was
 * called (replay; the exsync command also freezes it at
 * EXSYNC_FROZEN_TIME=ISO8601 when that is set). Never reads the environment. */
time_t exs_now(void);
/* The wall clock in milliseconds since the epoch (whole seconds when frozen). */
int64_t exs_now_ms(void);
/* Freeze the wall clock at t (0 unfreezes). */
void exs_clock_freeze(time_t t);
/* Format t as "2026-01-01T00:00:00Z" into buf (at least 21 bytes). */
char *exs_time_iso(time_t t, char *buf, size_t len);
/* Parse "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)" into *t. Returns 0 or -1. */
int exs_time_parse(const char *s, time_t *t);
/* Sleep for ms milliseconds (used only for back-off, never to synchronise). */
void exs_sleep_ms(int64_t ms);

#endif

/* bench_store.h - what the emulator's mailstore itself costs in memory.
 *
 * The daemon's RSS after loading a large scenario still holds the memory of
 * the libxml2 tree the loader built and freed (glibc keeps it). This loads
 * the scenario with emu_load_scenario in a forked child of the benchmark
 * (no thread started before the fork), calls malloc_trim(0), and reports
 * the child's VmRSS and the time emu_load_scenario took. Differences of two
 * such figures (a world with and without items) are the store's own cost.
 */
#ifndef EXSYNC_BENCH_STORE_H
#define EXSYNC_BENCH_STORE_H

/* 0 with *load_ms and *rss_kb (KiB), or -1 (load failed, timed out). */
int bench_store_measure(const char *scenario, int timeout_ms, double *load_ms, long *rss_kb);

#endif

/* bench_scenario.h - write a large scenario file (urn:exsync:scenario:1,
 * fixtures/schema/scenario.xsd) for the benchmarks: N mailboxes of M small
 * messages each, plus one service user that may impersonate every mailbox.
 *
 * Mailbox i (0-based) is "<prefix><i, 5 digits>@<domain>", e.g.
 * mb00042@bench.example; the service user's own mailbox is
 * "<login>@<domain>" and gets the same M messages. Message k of a mailbox
 * has subject "Item k" and body "Body of item k." (small on purpose: the
 * figure is the store's overhead per item). The emulator's scenario loader
 * reads at most 64 MiB of XML, which holds 10,000 x 100 such messages.
 */
#ifndef EXSYNC_BENCH_SCENARIO_H
#define EXSYNC_BENCH_SCENARIO_H

#include <stddef.h>

struct bench_world {
  size_t mailboxes;   /* impersonated mailboxes */
  size_t items;       /* messages per mailbox (inbox) */
  const char *domain; /* e.g. "bench.example" */
  const char *prefix; /* e.g. "mb" */
  const char *login;  /* service user, e.g. "svc" */
  const char *password;
};

/* Write the world to path. Returns the file size in bytes, or -1. */
long bench_scenario_write(const char *path, const struct bench_world *w);

/* The address of mailbox i into out. */
const char *bench_scenario_address(const struct bench_world *w, size_t i, char *out, size_t len);

#endif

/* world.h - the contoso world of the core integration suites (Test &
 * Enable, verdicts, sync): the contoso scenario on the in-process emulator
 * (port 0) and the org, profile and mailbox settings those suites start from. */
#ifndef EXSYNC_WORLD_H
#define EXSYNC_WORLD_H

#include "exsync/model.h"
#include "testutil.h"

struct emu;

/* Start the contoso scenario on an in-process emulator on port 0 into
 * *emu. url (256 bytes) gets the profile's EWS URL on the real host name
 * (http://mail.contoso.com:PORT/EWS/Exchange.asmx), connect_to (128 bytes)
 * the --connect-to that sends that host to the emulator. Returns the port;
 * fails the test when the emulator does not start. Stop with emu_stop and
 * emu_free. */
int tw_start(struct emu **emu, char *url, char *connect_to);

/* Org defaults with id org_id, plain HTTP and credentials and Basic over
 * it allowed (TLS has suites of its own). */
void tw_org(struct exs_org *org, const char *org_id);

/* Profile "Exchange" at url: credentials of the profile (CONTOSO\svc-crm,
 * svc-pw), Basic, impersonation; other settings their defaults. */
void tw_profile(struct exs_profile *p, const char *url);

/* Mailbox address (also its name) of profile "Exchange", approved, every
 * workload by server-side sync. */
void tw_mailbox(struct exs_mailbox *m, const char *address);

#endif

/* exsync-emulator/emulator_test.h - entry points for white-box tests and
 * fuzz targets, so they need none of the emulator's private headers. */
#ifndef EXSYNC_EMULATOR_TEST_H
#define EXSYNC_EMULATOR_TEST_H

#include <stddef.h>

struct emu;

/* Run one SOAP body through the EWS dispatch and its handler, as the
 * authenticated user LOGIN on virtual host HOST, without the network. The
 * answer is discarded. Returns the HTTP status it would have sent, or -1
 * when LOGIN is unknown or memory ran out. Takes the emulator's lock. */
int emu_test_ews_request(struct emu *emu, const char *login, const char *host, const char *body,
                         size_t len);

#endif

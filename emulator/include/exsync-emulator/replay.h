/* exsync-emulator/replay.h - the emulator library in replay mode.
 *
 * A replay server answers HTTP requests with recorded answers chosen by the
 * caller: it owns its own event loop, thread and evhttp listeners on
 * 127.0.0.1 port 0 (plain HTTP, and HTTPS with a throwaway CA whose
 * certificates name the recorded hosts), and calls the caller's answer
 * function for every request. It knows nothing about recordings, EWS or
 * the normaliser: the matching lives with the caller (diag/emu/replay.c), so the
 * emulator keeps away from core's protocol code (the README's Architecture section).
 *
 * Authentication legs are answered here, without asking the caller, so a
 * recording made with NTLM replays: a request whose Authorization carries
 * an NTLM NEGOTIATE message (scheme NTLM or Negotiate) gets a 401 with a
 * fresh CHALLENGE; the AUTHENTICATE that follows is passed to the answer
 * function like any other request (and never verified: the recording holds
 * no password).
 *
 * Threading: the answer function runs on the server's loop thread, one
 * request at a time. Ownership: strings passed in are copied; what the
 * answer function returns is copied before it returns control to the loop.
 */
#ifndef EXSYNC_EMULATOR_REPLAY_H
#define EXSYNC_EMULATOR_REPLAY_H

#include <stdbool.h>
#include <stddef.h>

struct emu_replay;

struct emu_replay_request {
  bool tls;            /* arrived on the HTTPS listener */
  const char *method;  /* "GET", "POST", ... */
  const char *host;    /* Host header without the port, "" if none */
  const char *uri;     /* path and query as sent */
  const char *headers; /* "Name: value\n" lines */
  const char *body;
  size_t body_len;
};

struct emu_replay_answer {
  int status;          /* 0: close the connection without an answer */
  const char *headers; /* "Name: value\n" lines; hop-by-hop ones are dropped */
  const char *body;
  size_t body_len;
};

/* Fill *ans for req; strings borrowed until the function returns. */
typedef void (*emu_replay_fn)(void *ctx, const struct emu_replay_request *req,
                              struct emu_replay_answer *ans);

/* A stopped replay server. hosts are the names its HTTPS certificate must
 * carry (may be NULL/0: no HTTPS listener). NULL on no memory. */
struct emu_replay *emu_replay_new(emu_replay_fn fn, void *ctx, const char *const *tls_hosts,
                                  size_t n_tls_hosts);
/* Stop and free. NULL is a no-op. */
void emu_replay_free(struct emu_replay *r);

/* Bind 127.0.0.1:0 (plain, and TLS when hosts were given), start the loop
 * thread. Returns 0 with the ports, or -1 with err. *tls_port is 0 without
 * HTTPS. */
int emu_replay_start(struct emu_replay *r, int *plain_port, int *tls_port, char *err,
                     size_t errlen);

/* Write the CA certificate of the HTTPS listener (PEM) to path. 0 or -1. */
int emu_replay_write_ca(struct emu_replay *r, const char *path, char *err, size_t errlen);

#endif

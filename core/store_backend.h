/* store_backend.h - the seam between store.h and its backends (private to
 * core/store*.c).
 *
 * store.h stays the one public interface; store_api.c implements it by
 * calling the operations table of the handle, so callers never know which
 * backend they talk to. A backend's handle starts with struct exs_store
 * (its operations) and the backend's own state follows; its operations get
 * the struct exs_store pointer back. Two backends, SQLite
 * (exs_store_sqlite_open) and PostgreSQL (exs_store_pg_open), share one
 * implementation of the operations over the SQL driver seam db.h
 * (store_sqlite.h); they differ in how they open. Every operation has the
 * meaning its exs_store_* call documents in store.h.
 */
#ifndef EXSYNC_STORE_BACKEND_H
#define EXSYNC_STORE_BACKEND_H

#include "exsync/store.h"

struct exs_store_ops {
  const char *name; /* "sql" */
  void (*close)(struct exs_store *st);
  int (*schema_version)(struct exs_store *st);
  int (*check)(struct exs_store *st, struct exs_error *err);
  int (*begin)(struct exs_store *st, struct exs_error *err);
  int (*commit)(struct exs_store *st, struct exs_error *err);
  int (*rollback)(struct exs_store *st, struct exs_error *err);
  int (*org_get)(struct exs_store *st, struct exs_org *org, struct exs_error *err);
  int (*org_put)(struct exs_store *st, const struct exs_org *org, struct exs_error *err);
  int (*profile_put)(struct exs_store *st, struct exs_profile *p, struct exs_error *err);
  int (*profile_get)(struct exs_store *st, const char *name, struct exs_profile *p,
                     struct exs_error *err);
  int (*profile_list)(struct exs_store *st, struct exs_profile **out, size_t *n,
                      struct exs_error *err);
  int (*profile_delete)(struct exs_store *st, const char *name, struct exs_error *err);
  int (*mailbox_put)(struct exs_store *st, struct exs_mailbox *m, struct exs_error *err);
  int (*mailbox_get)(struct exs_store *st, const char *address, struct exs_mailbox *m,
                     struct exs_error *err);
  int (*mailbox_list)(struct exs_store *st, const char *profile, unsigned flags,
                      struct exs_mailbox **out, size_t *n, struct exs_error *err);
  int (*mailbox_each)(struct exs_store *st, const char *profile, unsigned flags,
                      exs_store_mailbox_cb cb, void *ctx, struct exs_error *err);
  int (*mailbox_delete)(struct exs_store *st, const char *address, struct exs_error *err);
  int (*save_test_result)(struct exs_store *st, const struct exs_mailbox *m,
                          const struct exs_alert *alerts, size_t n, struct exs_error *err);
  int (*import)(struct exs_store *st, const struct exs_org *org, const struct exs_profile *profiles,
                size_t n_profiles, const struct exs_mailbox *mailboxes, size_t n_mailboxes,
                struct exs_error *err);
  int (*alert_add)(struct exs_store *st, struct exs_alert *a, struct exs_error *err);
  int (*alert_list)(struct exs_store *st, const char *mailbox, size_t limit, struct exs_alert **out,
                    size_t *n, struct exs_error *err);
  int (*alert_wall)(struct exs_store *st, const char *who, size_t limit, struct exs_alert **out,
                    size_t *n, struct exs_error *err);
  int (*alert_profile_wall)(struct exs_store *st, const char *profile, size_t limit,
                            struct exs_alert **out, size_t *n, struct exs_error *err);
  int (*job_create)(struct exs_store *st, const char *kind, const char *profile, int total,
                    int64_t *id, struct exs_error *err);
  int (*job_progress)(struct exs_store *st, int64_t id, int done, struct exs_error *err);
  int (*job_finish)(struct exs_store *st, int64_t id, bool ok, const char *summary,
                    struct exs_error *err);
  int (*job_get)(struct exs_store *st, int64_t id, struct exs_job *job, struct exs_error *err);
  int (*job_list)(struct exs_store *st, struct exs_job **out, size_t *n, struct exs_error *err);
  int (*activity_add)(struct exs_store *st, struct exs_activity *a, struct exs_error *err);
  int (*activity_get)(struct exs_store *st, int64_t id, struct exs_activity *a,
                      struct exs_error *err);
  int (*activity_set_state)(struct exs_store *st, int64_t id, const char *state,
                            const char *exchange_item_id, struct exs_error *err);
  int (*activity_list)(struct exs_store *st, const char *mailbox, const char *state,
                       struct exs_activity **out, size_t *n, struct exs_error *err);
  int (*syncstate_get)(struct exs_store *st, const char *mailbox, const char *folder, char **state,
                       struct exs_error *err);
  int (*syncstate_put)(struct exs_store *st, const char *mailbox, const char *folder,
                       const char *state, struct exs_error *err);
  int (*activity_extra_get)(struct exs_store *st, int64_t id, struct exs_activity_extra *x,
                            struct exs_error *err);
  int (*activity_set_token)(struct exs_store *st, int64_t id, const char *token,
                            struct exs_error *err);
  int (*activity_begin_send)(struct exs_store *st, int64_t id, struct exs_error *err);
  int (*activity_set_pending)(struct exs_store *st, int64_t id, const char *reason,
                              struct exs_error *err);
  int (*activity_known)(struct exs_store *st, const char *mailbox, const char *item_id,
                        const char *message_id, int64_t *id, struct exs_error *err);
  int (*activity_correlate)(struct exs_store *st, const char *subject, const char *address,
                            int64_t *id, struct exs_error *err);
  long (*activity_count)(struct exs_store *st, const char *mailbox, const char *state,
                         struct exs_error *err);
  int (*mailbox_save_runtime)(struct exs_store *st, const struct exs_mailbox *m,
                              struct exs_error *err);
  int (*worker_register)(struct exs_store *st, const struct exs_worker *w, struct exs_error *err);
  int (*worker_heartbeat)(struct exs_store *st, const char *id, int64_t lease_ms, long *renewed,
                          struct exs_error *err);
  int (*worker_unregister)(struct exs_store *st, const char *id, struct exs_error *err);
  int (*worker_list)(struct exs_store *st, struct exs_worker **out, size_t *n,
                     struct exs_error *err);
  int (*lease_claim)(struct exs_store *st, const char *mailbox, const char *worker,
                     int64_t lease_ms, int *claimed, struct exs_error *err);
  int (*lease_release)(struct exs_store *st, const char *mailbox, const char *worker,
                       struct exs_error *err);
  int (*lease_held)(struct exs_store *st, const char *mailbox, const char *worker,
                    struct exs_error *err);
  int (*lease_list)(struct exs_store *st, struct exs_lease **out, size_t *n, struct exs_error *err);
  int (*slot_claim)(struct exs_store *st, const char *credential, int limit, const char *worker,
                    int64_t lease_ms, int *slot, struct exs_error *err);
  int (*slot_release)(struct exs_store *st, const char *credential, int slot, const char *worker,
                      struct exs_error *err);
  int (*act_put)(struct exs_store *st, struct exs_act_item *a, struct exs_error *err);
  int (*act_find)(struct exs_store *st, const char *mailbox, const char *exchange_id,
                  struct exs_act_item *a, struct exs_error *err);
  int (*act_get)(struct exs_store *st, int64_t id, struct exs_act_item *a, struct exs_error *err);
  int (*act_list)(struct exs_store *st, const char *mailbox, bool dirty_only,
                  struct exs_act_item **out, size_t *n, struct exs_error *err);
  int (*act_delete)(struct exs_store *st, int64_t id, struct exs_error *err);
};

/* The head of every backend's handle. */
struct exs_store {
  const struct exs_store_ops *ops;
};

/* The SQLite backend (store_sqlite.c): open or create the store file at path. */
struct exs_store *exs_store_sqlite_open(const char *path, const char *key_file, int version,
                                        struct exs_error *err);
/* The PostgreSQL backend (store_pg.c): connect with a libpq connection
 * string (postgresql://USER@HOST:PORT/DB or key=value) that holds no
 * password. */
struct exs_store *exs_store_pg_open(const char *conninfo, const char *key_file, int version,
                                    struct exs_error *err);

#endif

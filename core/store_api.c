/* store_api.c - store.h, implemented by calling the handle's operations
 * table (store_backend.h). Opening picks the backend; every other call is
 * a plain forward, so adding a backend touches nothing here but open. */
#include "store_backend.h"

struct exs_store *exs_store_open_version(const char *path, const char *key_file, int version,
                                         struct exs_error *err)
{
  if(exs_store_path_is_server(path))
    return exs_store_pg_open(path, key_file, version, err);
  return exs_store_sqlite_open(path, key_file, version, err);
}

struct exs_store *exs_store_open(const char *path, const char *key_file, struct exs_error *err)
{
  return exs_store_open_version(path, key_file, EXS_STORE_SCHEMA_VERSION, err);
}

void exs_store_close(struct exs_store *st)
{
  if(st)
    st->ops->close(st);
}

int exs_store_schema_version(struct exs_store *st)
{
  return st->ops->schema_version(st);
}

int exs_store_check(struct exs_store *st, struct exs_error *err)
{
  return st->ops->check(st, err);
}

int exs_store_begin(struct exs_store *st, struct exs_error *err)
{
  return st->ops->begin(st, err);
}

int exs_store_commit(struct exs_store *st, struct exs_error *err)
{
  return st->ops->commit(st, err);
}

int exs_store_rollback(struct exs_store *st, struct exs_error *err)
{
  return st->ops->rollback(st, err);
}

int exs_store_org_get(struct exs_store *st, struct exs_org *org, struct exs_error *err)
{
  return st->ops->org_get(st, org, err);
}

int exs_store_org_put(struct exs_store *st, const struct exs_org *org, struct exs_error *err)
{
  return st->ops->org_put(st, org, err);
}

int exs_store_profile_put(struct exs_store *st, struct exs_profile *p, struct exs_error *err)
{
  return st->ops->profile_put(st, p, err);
}

int exs_store_profile_get(struct exs_store *st, const char *name, struct exs_profile *p,
                          struct exs_error *err)
{
  return st->ops->profile_get(st, name, p, err);
}

int exs_store_profile_list(struct exs_store *st, struct exs_profile **out, size_t *n,
                           struct exs_error *err)
{
  return st->ops->profile_list(st, out, n, err);
}

int exs_store_profile_delete(struct exs_store *st, const char *name, struct exs_error *err)
{
  return st->ops->profile_delete(st, name, err);
}

int exs_store_mailbox_put(struct exs_store *st, struct exs_mailbox *m, struct exs_error *err)
{
  return st->ops->mailbox_put(st, m, err);
}

int exs_store_mailbox_get(struct exs_store *st, const char *address, struct exs_mailbox *m,
                          struct exs_error *err)
{
  return st->ops->mailbox_get(st, address, m, err);
}

int exs_store_mailbox_list(struct exs_store *st, const char *profile, unsigned flags,
                           struct exs_mailbox **out, size_t *n, struct exs_error *err)
{
  return st->ops->mailbox_list(st, profile, flags, out, n, err);
}

int exs_store_mailbox_each(struct exs_store *st, const char *profile, unsigned flags,
                           exs_store_mailbox_cb cb, void *ctx, struct exs_error *err)
{
  return st->ops->mailbox_each(st, profile, flags, cb, ctx, err);
}

int exs_store_mailbox_delete(struct exs_store *st, const char *address, struct exs_error *err)
{
  return st->ops->mailbox_delete(st, address, err);
}

int exs_store_save_test_result(struct exs_store *st, const struct exs_mailbox *m,
                               const struct exs_alert *alerts, size_t n, struct exs_error *err)
{
  return st->ops->save_test_result(st, m, alerts, n, err);
}

int exs_store_import(struct exs_store *st, const struct exs_org *org,
                     const struct exs_profile *profiles, size_t n_profiles,
                     const struct exs_mailbox *mailboxes, size_t n_mailboxes, struct exs_error *err)
{
  return st->ops->import(st, org, profiles, n_profiles, mailboxes, n_mailboxes, err);
}

int exs_store_alert_add(struct exs_store *st, struct exs_alert *a, struct exs_error *err)
{
  return st->ops->alert_add(st, a, err);
}

int exs_store_alert_list(struct exs_store *st, const char *mailbox, size_t limit,
                         struct exs_alert **out, size_t *n, struct exs_error *err)
{
  return st->ops->alert_list(st, mailbox, limit, out, n, err);
}

int exs_store_alert_wall(struct exs_store *st, const char *who, size_t limit,
                         struct exs_alert **out, size_t *n, struct exs_error *err)
{
  return st->ops->alert_wall(st, who, limit, out, n, err);
}

int exs_store_alert_profile_wall(struct exs_store *st, const char *profile, size_t limit,
                                 struct exs_alert **out, size_t *n, struct exs_error *err)
{
  return st->ops->alert_profile_wall(st, profile, limit, out, n, err);
}

int exs_store_job_create(struct exs_store *st, const char *kind, const char *profile, int total,
                         int64_t *id, struct exs_error *err)
{
  return st->ops->job_create(st, kind, profile, total, id, err);
}

int exs_store_job_progress(struct exs_store *st, int64_t id, int done, struct exs_error *err)
{
  return st->ops->job_progress(st, id, done, err);
}

int exs_store_job_finish(struct exs_store *st, int64_t id, bool ok, const char *summary,
                         struct exs_error *err)
{
  return st->ops->job_finish(st, id, ok, summary, err);
}

int exs_store_job_get(struct exs_store *st, int64_t id, struct exs_job *job, struct exs_error *err)
{
  return st->ops->job_get(st, id, job, err);
}

int exs_store_job_list(struct exs_store *st, struct exs_job **out, size_t *n, struct exs_error *err)
{
  return st->ops->job_list(st, out, n, err);
}

int exs_store_activity_add(struct exs_store *st, struct exs_activity *a, struct exs_error *err)
{
  return st->ops->activity_add(st, a, err);
}

int exs_store_activity_get(struct exs_store *st, int64_t id, struct exs_activity *a,
                           struct exs_error *err)
{
  return st->ops->activity_get(st, id, a, err);
}

int exs_store_activity_set_state(struct exs_store *st, int64_t id, const char *state,
                                 const char *exchange_item_id, struct exs_error *err)
{
  return st->ops->activity_set_state(st, id, state, exchange_item_id, err);
}

int exs_store_activity_list(struct exs_store *st, const char *mailbox, const char *state,
                            struct exs_activity **out, size_t *n, struct exs_error *err)
{
  return st->ops->activity_list(st, mailbox, state, out, n, err);
}

int exs_store_syncstate_get(struct exs_store *st, const char *mailbox, const char *folder,
                            char **state, struct exs_error *err)
{
  return st->ops->syncstate_get(st, mailbox, folder, state, err);
}

int exs_store_syncstate_put(struct exs_store *st, const char *mailbox, const char *folder,
                            const char *state, struct exs_error *err)
{
  return st->ops->syncstate_put(st, mailbox, folder, state, err);
}

int exs_store_activity_extra_get(struct exs_store *st, int64_t id, struct exs_activity_extra *x,
                                 struct exs_error *err)
{
  return st->ops->activity_extra_get(st, id, x, err);
}

int exs_store_activity_set_token(struct exs_store *st, int64_t id, const char *token,
                                 struct exs_error *err)
{
  return st->ops->activity_set_token(st, id, token, err);
}

int exs_store_activity_begin_send(struct exs_store *st, int64_t id, struct exs_error *err)
{
  return st->ops->activity_begin_send(st, id, err);
}

int exs_store_activity_set_pending(struct exs_store *st, int64_t id, const char *reason,
                                   struct exs_error *err)
{
  return st->ops->activity_set_pending(st, id, reason, err);
}

int exs_store_activity_known(struct exs_store *st, const char *mailbox, const char *item_id,
                             const char *message_id, int64_t *id, struct exs_error *err)
{
  return st->ops->activity_known(st, mailbox, item_id, message_id, id, err);
}

int exs_store_activity_correlate(struct exs_store *st, const char *subject, const char *address,
                                 int64_t *id, struct exs_error *err)
{
  return st->ops->activity_correlate(st, subject, address, id, err);
}

long exs_store_activity_count(struct exs_store *st, const char *mailbox, const char *state,
                              struct exs_error *err)
{
  return st->ops->activity_count(st, mailbox, state, err);
}

int exs_store_mailbox_save_runtime(struct exs_store *st, const struct exs_mailbox *m,
                                   struct exs_error *err)
{
  return st->ops->mailbox_save_runtime(st, m, err);
}

int exs_store_act_put(struct exs_store *st, struct exs_act_item *a, struct exs_error *err)
{
  return st->ops->act_put(st, a, err);
}

int exs_store_act_find(struct exs_store *st, const char *mailbox, const char *exchange_id,
                       struct exs_act_item *a, struct exs_error *err)
{
  return st->ops->act_find(st, mailbox, exchange_id, a, err);
}

int exs_store_act_get(struct exs_store *st, int64_t id, struct exs_act_item *a,
                      struct exs_error *err)
{
  return st->ops->act_get(st, id, a, err);
}

int exs_store_act_list(struct exs_store *st, const char *mailbox, bool dirty_only,
                       struct exs_act_item **out, size_t *n, struct exs_error *err)
{
  return st->ops->act_list(st, mailbox, dirty_only, out, n, err);
}

int exs_store_act_delete(struct exs_store *st, int64_t id, struct exs_error *err)
{
  return st->ops->act_delete(st, id, err);
}

int exs_store_worker_register(struct exs_store *st, const struct exs_worker *w,
                              struct exs_error *err)
{
  return st->ops->worker_register(st, w, err);
}

int exs_store_worker_heartbeat(struct exs_store *st, const char *id, int64_t lease_ms,
                               long *renewed, struct exs_error *err)
{
  return st->ops->worker_heartbeat(st, id, lease_ms, renewed, err);
}

int exs_store_worker_unregister(struct exs_store *st, const char *id, struct exs_error *err)
{
  return st->ops->worker_unregister(st, id, err);
}

int exs_store_worker_list(struct exs_store *st, struct exs_worker **out, size_t *n,
                          struct exs_error *err)
{
  return st->ops->worker_list(st, out, n, err);
}

int exs_store_lease_claim(struct exs_store *st, const char *mailbox, const char *worker,
                          int64_t lease_ms, int *claimed, struct exs_error *err)
{
  return st->ops->lease_claim(st, mailbox, worker, lease_ms, claimed, err);
}

int exs_store_lease_release(struct exs_store *st, const char *mailbox, const char *worker,
                            struct exs_error *err)
{
  return st->ops->lease_release(st, mailbox, worker, err);
}

int exs_store_lease_held(struct exs_store *st, const char *mailbox, const char *worker,
                         struct exs_error *err)
{
  return st->ops->lease_held(st, mailbox, worker, err);
}

int exs_store_lease_list(struct exs_store *st, struct exs_lease **out, size_t *n,
                         struct exs_error *err)
{
  return st->ops->lease_list(st, out, n, err);
}

int exs_store_slot_claim(struct exs_store *st, const char *credential, int limit,
                         const char *worker, int64_t lease_ms, int *slot, struct exs_error *err)
{
  return st->ops->slot_claim(st, credential, limit, worker, lease_ms, slot, err);
}

int exs_store_slot_release(struct exs_store *st, const char *credential, int slot,
                           const char *worker, struct exs_error *err)
{
  return st->ops->slot_release(st, credential, slot, worker, err);
}

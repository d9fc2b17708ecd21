/* store_sqlite.c - the SQLite backend's entry: its operations table and
 * exs_store_sqlite_open (store_backend.h). Kept apart from store.c so that
 * the backend's files call store.c's helpers and never the other way. */
#include "store_sqlite.h"

const struct exs_store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = sq_schema_version,
    .check = sq_check,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .org_get = sq_org_get,
    .org_put = sq_org_put,
    .profile_put = sq_profile_put,
    .profile_get = sq_profile_get,
    .profile_list = sq_profile_list,
    .profile_delete = sq_profile_delete,
    .mailbox_put = sq_mailbox_put,
    .mailbox_get = sq_mailbox_get,
    .mailbox_list = sq_mailbox_list,
    .mailbox_each = sq_mailbox_each,
    .mailbox_delete = sq_mailbox_delete,
    .save_test_result = sq_save_test_result,
    .import = sq_import,
    .alert_add = sq_alert_add,
    .alert_list = sq_alert_list,
    .alert_wall = sq_alert_wall,
    .alert_profile_wall = sq_alert_profile_wall,
    .job_create = sq_job_create,
    .job_progress = sq_job_progress,
    .job_finish = sq_job_finish,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .activity_add = sq_activity_add,
    .activity_get = sq_activity_get,
    .activity_set_state = sq_activity_set_state,
    .activity_list = sq_activity_list,
    .syncstate_get = sq_syncstate_get,
    .syncstate_put = sq_syncstate_put,
    .activity_extra_get = sq_activity_extra_get,
    .activity_set_token = sq_activity_set_token,
    .activity_begin_send = sq_activity_begin_send,
    .activity_set_pending = sq_activity_set_pending,
    .activity_known = sq_activity_known,
    .activity_correlate = sq_activity_correlate,
    .activity_count = sq_activity_count,
    .mailbox_claim = sq_mailbox_claim,
    .mailbox_save_runtime = sq_mailbox_save_runtime,
    .worker_register = sq_worker_register,
    .worker_heartbeat = sq_worker_heartbeat,
    .worker_unregister = sq_worker_unregister,
    .worker_list = sq_worker_list,
    .lease_claim = sq_lease_claim,
    .lease_release = sq_lease_release,
    .lease_held = sq_lease_held,
    .lease_list = sq_lease_list,
    .slot_claim = sq_slot_claim,
    .slot_release = sq_slot_release,
    .act_put = sq_act_put,
    .act_find = sq_act_find,
    .act_get = sq_act_get,
    .act_list = sq_act_list,
    .act_delete = sq_act_delete,
};

struct exs_store *exs_store_sqlite_open(const char *path, const char *key_file, int version,
                                        struct exs_error *err)
{
  struct exs_store *st = sq_open(path, key_file, version, err);

  if(st)
    st->ops = &sq_ops;
  return st;
}

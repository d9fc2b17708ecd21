/* store_sqlite.c - the store's operations table (both databases run the
 * same operations, over db.h) and the SQLite backend's entry,
 * exs_store_sqlite_open (store_backend.h): the database file, created
 * private and only ever opened by SQLite. Kept apart from store.c so that
 * the backend's files call store.c's helpers and never the other way. */
/* O_PATH (Linux): a descriptor whose close leaves POSIX locks alone. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_sqlite.h"

const struct exs_store_ops sq_ops = {
    .name = "sql",
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

struct exs_store *sq_with_ops(struct exs_store *st)
{
  if(st)
    st->ops = &sq_ops;
  return st;
}

/* ---- the database file -------------------------------------------------- *
 *
 * The file is never opened with open() here while SQLite may hold it: on
 * POSIX, closing ANY descriptor of a file drops every record lock the
 * process holds on it, those of SQLite's other connections (other threads)
 * included, and another process could then checkpoint or reset the WAL
 * under them (issue 12). Only two kinds of descriptors are used here: one
 * of a temporary file before it gets the store's name, and O_PATH ones,
 * whose close leaves locks alone (Linux).
 */

/* Create path as an empty 0600 file if it does not exist: a temporary file
 * made 0600 is linked into place, so the store is never visible with a
 * looser mode and an existing file (or symlink) is never replaced. 0 when
 * created or already there; 1 when this filesystem cannot link (then SQLite
 * creates it and tighten_file() fixes the mode); -1 on error. */
static int create_private(const char *path, struct exs_error *err)
{
  static atomic_uint seq;
  char tmp[1100];
  int fd, result = -1, attempt;

  for(attempt = 0;; attempt++) {
    if(snprintf(tmp, sizeof(tmp), "%s.new.%ld.%u", path, (long)getpid(),
                atomic_fetch_add(&seq, 1)) >= (int)sizeof(tmp)) {
      exs_error_set(err, EXS_CAT_CONFIG, "store path too long: %s", path);
      return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if(fd >= 0 || errno != EEXIST || attempt == 2)
      break;
    (void)unlink(tmp); /* left by a crashed process that had our pid */
  }
  if(fd < 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: cannot create %s: %s", path, tmp,
                  strerror(errno));
    return -1;
  }
  /* the umask may only have removed bits; this inode is not the store yet */
  if(fchmod(fd, 0600)) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: cannot set the mode of %s: %s", path, tmp,
                  strerror(errno));
    close(fd);
    goto out;
  }
  close(fd);
  if(link(tmp, path) == 0 || errno == EEXIST)
    result = 0;
  else if(errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == EXDEV)
    result = 1;
  else
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: cannot create: %s", path, strerror(errno));
out:
  (void)unlink(tmp);
  return result;
}

/* Check that path is a regular file (a symbolic link is refused) and
 * take group and other permissions away when it has them. A missing file
 * is fine unless required. */
static int tighten_file(const char *path, bool required, struct exs_error *err)
{
  struct stat sb;
  int fd, result = -1;

  fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if(fd < 0) {
    if(errno == ENOENT && !required)
      return 0;
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  if(fstat(fd, &sb)) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: cannot stat: %s", path, strerror(errno));
    goto out;
  }
  if(S_ISLNK(sb.st_mode)) { /* O_PATH | O_NOFOLLOW opens the link itself */
    exs_error_set(err, EXS_CAT_CONFIG,
                  "store %s is a symbolic link: refused (name the file "
                  "itself)",
                  path);
    goto out;
  }
  if(!S_ISREG(sb.st_mode)) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s is not a regular file", path);
    goto out;
  }
  if(sb.st_mode & 077) {
    char self[64];
    /* chmod through the descriptor: the file checked above is the one changed */
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    if(chmod(self, sb.st_mode & 0700)) {
      exs_error_set(err, EXS_CAT_CONFIG,
                    "store %s has mode %04o and cannot be made private (chmod 600 %s): %s", path,
                    (unsigned)(sb.st_mode & 07777), path, strerror(errno));
      goto out;
    }
  }
  result = 0;
out:
  close(fd); /* O_PATH: no lock of this process is dropped */
  return result;
}

/* Prepare the store's files before SQLite opens them: the database created
 * private, the database and its -wal / -shm companions private and regular. */
static int prepare_files(const char *path, struct exs_error *err)
{
  static const char *const companions[] = {"-wal", "-shm"};
  char other[1100];
  size_t i;

  if(create_private(path, err) < 0)
    return -1;
  if(tighten_file(path, false, err))
    return -1;
  for(i = 0; i < sizeof(companions) / sizeof(companions[0]); i++) {
    if(snprintf(other, sizeof(other), "%s%s", path, companions[i]) >= (int)sizeof(other)) {
      exs_error_set(err, EXS_CAT_CONFIG, "store path too long: %s", path);
      return -1;
    }
    if(tighten_file(other, false, err))
      return -1;
  }
  return 0;
}

struct exs_store *exs_store_sqlite_open(const char *path, const char *key_file, int version,
                                        struct exs_error *err)
{
  bool mem = !strcmp(path, ":memory:");
  struct db_stmt *s = NULL;
  struct db *db;
  char msg[512];
  int rc;

  /* The database holds sealed secrets and addresses: private, and only
   * ever opened by SQLite (see prepare_files). */
  if(!mem && prepare_files(path, err))
    return NULL;
  db = db_open_sqlite(path, msg, sizeof(msg));
  if(!db) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: cannot open the database: %s", path, msg);
    return NULL;
  }
  /* created by SQLite (no hard links here), or swapped in meanwhile */
  if(!mem && tighten_file(path, true, err))
    goto fail;
  s = db_stmt(db, "PRAGMA journal_mode = WAL");
  rc = s ? db_step(s) : -1;
  db_done(s);
  if(rc != DB_ROW) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "store %s: cannot use the database (not an SQLite file?): %s", path,
                  db_errmsg(db));
    goto fail;
  }
  if(db_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL")) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: statement failed: %s", path, db_errmsg(db));
    goto fail;
  }
  return sq_with_ops(sq_open(db, path, key_file, version, err));
fail:
  db_close(db);
  return NULL;
}

/* mailstore.c - users, mailboxes, folders, items and mail delivery.
 *
 * Plain C structs (never libxml2 trees). Callers hold the world lock and the
 * lock of every mailbox they touch (emu_internal.h); numbers and indexes are
 * under store_lock, taken here. Folder and item numbers are unique across the
 * emulator and never reused, so an id stays invalid once its object is gone.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu_internal.h"

char *emu_strdup(const char *s)
{
  return s ? strdup(s) : NULL;
}

char *emu_strdup_lower(const char *s)
{
  char *d = emu_strdup(s);

  for(char *p = d; p && *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return d;
}

int emu_strv_add(char ***v, size_t *n, const char *s)
{
  char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

  if(!nv)
    return -1;
  *v = nv;
  nv[*n] = strdup(s);
  if(!nv[*n])
    return -1;
  (*n)++;
  return 0;
}

void emu_strv_free(char **v, size_t n)
{
  for(size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

/* ---- ids ---- */

void emu_id_encode(char kind, uint64_t num, char *out, size_t outlen)
{
  char raw[64];
  struct exs_buf b;

  snprintf(raw, sizeof(raw), "exsync:%c:%016llx", kind, (unsigned long long)num);
  exs_buf_init(&b, 256);
  if(exs_base64_encode(&b, (const unsigned char *)raw, strlen(raw)) == 0)
    snprintf(out, outlen, "AAMk%s", b.data);
  else
    snprintf(out, outlen, "invalid");
  exs_buf_free(&b);
}

int emu_id_decode(const char *id, char *kind, uint64_t *num)
{
  struct exs_buf b;
  unsigned long long n;
  char k;
  int result = -1;

  if(!id || strncmp(id, "AAMk", 4) != 0)
    return -1;
  exs_buf_init(&b, 256);
  if(exs_base64_decode(&b, id + 4, strlen(id + 4)) != 0 || !b.data)
    goto out;
  if(b.len != 25 || sscanf(b.data, "exsync:%c:%16llx", &k, &n) != 2)
    goto out;
  *kind = k;
  *num = n;
  result = 0;
out:
  exs_buf_free(&b);
  return result;
}

void emu_ck_encode(char kind, unsigned ck, char *out, size_t outlen)
{
  char raw[32];
  struct exs_buf b;

  snprintf(raw, sizeof(raw), "ck:%c:%08x", kind, ck);
  exs_buf_init(&b, 128);
  if(exs_base64_encode(&b, (const unsigned char *)raw, strlen(raw)) == 0)
    snprintf(out, outlen, "%s", b.data);
  else
    snprintf(out, outlen, "AAAA");
  exs_buf_free(&b);
}

/* ---- properties ---- */

void emu_prop_free_list(struct emu_prop *p)
{
  while(p) {
    struct emu_prop *next = p->next;
    free(p->dset);
    free(p->pset);
    free(p->tag);
    free(p->name);
    free(p->pid);
    free(p->type);
    free(p->value);
    free(p);
    p = next;
  }
}

static bool str_eq_ci(const char *a, const char *b)
{
  if(!a || !b)
    return a == b;
  return strcasecmp(a, b) == 0;
}

static bool tag_eq(const char *a, const char *b)
{
  if(!a || !b)
    return a == b;
  return strtoul(a, NULL, 0) == strtoul(b, NULL, 0);
}

struct emu_prop *emu_prop_find(struct emu_prop *list, const struct emu_prop *key)
{
  for(struct emu_prop *p = list; p; p = p->next) {
    if(str_eq_ci(p->dset, key->dset) && str_eq_ci(p->pset, key->pset) && tag_eq(p->tag, key->tag) &&
       (p->name && key->name ? strcmp(p->name, key->name) == 0 : p->name == key->name) &&
       tag_eq(p->pid, key->pid))
      return p;
  }
  return NULL;
}

int emu_prop_set(struct emu_prop **list, const struct emu_prop *key, const char *value)
{
  struct emu_prop *p = emu_prop_find(*list, key);
  char *v = strdup(value ? value : "");

  if(!v)
    return -1;
  if(p) {
    free(p->value);
    p->value = v;
    free(p->type);
    p->type = emu_strdup(key->type ? key->type : "String");
    return 0;
  }
  p = calloc(1, sizeof(*p));
  if(!p) {
    free(v);
    return -1;
  }
  p->dset = emu_strdup(key->dset);
  p->pset = emu_strdup(key->pset);
  p->tag = emu_strdup(key->tag);
  p->name = emu_strdup(key->name);
  p->pid = emu_strdup(key->pid);
  p->type = emu_strdup(key->type ? key->type : "String");
  p->value = v;
  /* append: keep insertion order for stable answers */
  struct emu_prop **tail = list;
  while(*tail)
    tail = &(*tail)->next;
  *tail = p;
  return 0;
}

/* ---- items ---- */

void emu_item_free(struct emu_item *it)
{
  if(!it)
    return;
  free(it->item_class);
  free(it->subject);
  free(it->body);
  free(it->mime);
  free(it->from);
  emu_strv_free(it->to, it->nto);
  emu_strv_free(it->cc, it->ncc);
  emu_strv_free(it->categories, it->ncat);
  free(it->message_id);
  emu_prop_free_list(it->props);
  emu_frag_free_list(it->frags);
  free(it);
}

void emu_frag_free_list(struct emu_frag *f)
{
  while(f) {
    struct emu_frag *next = f->next;
    free(f->name);
    free(f->xml);
    free(f);
    f = next;
  }
}

int emu_frag_set(struct emu_item *it, const char *name, int order, const char *xml)
{
  struct emu_frag **pp = &it->frags, *f;

  for(; *pp; pp = &(*pp)->next) {
    if(strcmp((*pp)->name, name) == 0) {
      f = *pp;
      if(!xml) {
        *pp = f->next;
        f->next = NULL;
        emu_frag_free_list(f);
        return 0;
      }
      char *x = strdup(xml);
      if(!x)
        return -1;
      free(f->xml);
      f->xml = x;
      return 0;
    }
  }
  if(!xml)
    return 0;
  f = calloc(1, sizeof(*f));
  if(!f || !(f->name = strdup(name)) || !(f->xml = strdup(xml))) {
    emu_frag_free_list(f);
    return -1;
  }
  f->order = order;
  /* keep the list sorted by schema order */
  for(pp = &it->frags; *pp && (*pp)->order <= order; pp = &(*pp)->next)
    ;
  f->next = *pp;
  *pp = f;
  return 0;
}

int emu_item_attach(struct emu_folder *f, struct emu_item *it)
{
  if(f->nitems == f->capitems) {
    size_t ncap = f->capitems ? f->capitems * 2 : 8;
    struct emu_item **n = realloc(f->items, ncap * sizeof(*n));
    if(!n)
      return -1;
    f->items = n;
    f->capitems = ncap;
  }
  pthread_mutex_lock(&f->mbx->emu->store_lock);
  if(emu_index_put(&f->mbx->emu->item_index, it->num, it) != 0) {
    pthread_mutex_unlock(&f->mbx->emu->store_lock);
    return -1;
  }
  it->folder = f;
  pthread_mutex_unlock(&f->mbx->emu->store_lock);
  f->items[f->nitems++] = it;
  f->ck++;
  it->created_seq = it->mod_seq = ++f->mbx->change_seq;
  it->art = ++f->next_art;
  it->mtime_ms = emu_stamp_ms(it->mtime_ms);
  f->mtime_ms = emu_stamp_ms(f->mtime_ms);
  return 0;
}

int64_t emu_stamp_ms(int64_t prev)
{
  struct timespec ts;
  int64_t now;

  /* whole seconds: clients parse these times without fractions, and a
   * change within the same second must still show as a new time */
  clock_gettime(CLOCK_REALTIME, &ts);
  now = (int64_t)ts.tv_sec * 1000;
  return now > prev ? now : prev + 1000;
}

void emu_item_touch(struct emu_item *it)
{
  it->ck++;
  it->mtime_ms = emu_stamp_ms(it->mtime_ms);
  if(it->folder) {
    it->mod_seq = ++it->folder->mbx->change_seq;
    it->folder->mtime_ms = emu_stamp_ms(it->folder->mtime_ms);
  }
}

void emu_item_detach(struct emu_item *it)
{
  struct emu_folder *f = it->folder;

  if(!f)
    return;
  pthread_mutex_lock(&f->mbx->emu->store_lock);
  emu_index_del(&f->mbx->emu->item_index, it->num, it);
  it->folder = NULL;
  pthread_mutex_unlock(&f->mbx->emu->store_lock);
  for(size_t i = 0; i < f->nitems; i++) {
    if(f->items[i] == it) {
      memmove(&f->items[i], &f->items[i + 1], (f->nitems - i - 1) * sizeof(f->items[0]));
      f->nitems--;
      break;
    }
  }
  f->ck++;
  f->mtime_ms = emu_stamp_ms(f->mtime_ms);
  if(f->ntombs == f->captombs) {
    size_t ncap = f->captombs ? f->captombs * 2 : 8;
    struct emu_tombstone *n = realloc(f->tombs, ncap * sizeof(*n));
    if(n) {
      f->tombs = n;
      f->captombs = ncap;
    }
  }
  if(f->ntombs < f->captombs) {
    struct emu_tombstone *t = &f->tombs[f->ntombs++];
    t->num = it->num;
    t->ck = it->ck;
    t->created_seq = it->created_seq;
    t->seq = ++f->mbx->change_seq;
  }
}

struct emu_item *emu_item_new(struct emu *emu, struct emu_folder *f)
{
  struct emu_item *it = calloc(1, sizeof(*it));

  if(!it)
    return NULL;
  it->num = emu_next_num(emu);
  it->ck = 1;
  it->created = it->received = it->sent = time(NULL);
  if(f && emu_item_attach(f, it) != 0) {
    free(it);
    return NULL;
  }
  return it;
}

struct emu_item *emu_item_by_num(struct emu *emu, uint64_t num)
{
  struct emu_item *it;

  pthread_mutex_lock(&emu->store_lock);
  it = emu_index_get(&emu->item_index, num);
  pthread_mutex_unlock(&emu->store_lock);
  return it;
}

struct emu_mailbox *emu_owner_of(struct emu *emu, char kind, uint64_t num)
{
  struct emu_mailbox *m = NULL;

  pthread_mutex_lock(&emu->store_lock);
  if(kind == 'I') {
    struct emu_item *it = emu_index_get(&emu->item_index, num);
    m = it && it->folder ? it->folder->mbx : NULL;
  }
  else if(kind == 'F') {
    struct emu_folder *f = emu_index_get(&emu->folder_index, num);
    m = f ? f->mbx : NULL;
  }
  pthread_mutex_unlock(&emu->store_lock);
  return m;
}

uint64_t emu_next_num(struct emu *emu)
{
  uint64_t n;

  pthread_mutex_lock(&emu->store_lock);
  n = ++emu->next_num;
  pthread_mutex_unlock(&emu->store_lock);
  return n;
}

static int strv_copy(char ***dst, size_t *ndst, char *const *src, size_t n)
{
  for(size_t i = 0; i < n; i++)
    if(emu_strv_add(dst, ndst, src[i]) != 0)
      return -1;
  return 0;
}

struct emu_item *emu_item_copy(struct emu *emu, const struct emu_item *src, struct emu_folder *f)
{
  struct emu_item *it = emu_item_new(emu, NULL);

  if(!it)
    return NULL;
  it->item_class = emu_strdup(src->item_class);
  it->subject = emu_strdup(src->subject);
  it->body = emu_strdup(src->body);
  it->body_html = src->body_html;
  if(src->mime) {
    it->mime = malloc(src->mime_len + 1);
    if(it->mime) {
      memcpy(it->mime, src->mime, src->mime_len);
      it->mime[src->mime_len] = '\0';
      it->mime_len = src->mime_len;
    }
  }
  it->from = emu_strdup(src->from);
  strv_copy(&it->to, &it->nto, src->to, src->nto);
  strv_copy(&it->cc, &it->ncc, src->cc, src->ncc);
  strv_copy(&it->categories, &it->ncat, src->categories, src->ncat);
  it->message_id = emu_strdup(src->message_id);
  it->kind = src->kind;
  for(const struct emu_frag *fr = src->frags; fr; fr = fr->next)
    emu_frag_set(it, fr->name, fr->order, fr->xml);
  it->received = src->received;
  it->sent = src->sent;
  it->created = src->created;
  it->is_read = src->is_read;
  it->is_draft = src->is_draft;
  for(const struct emu_prop *p = src->props; p; p = p->next)
    emu_prop_set(&it->props, p, p->value);
  if(f && emu_item_attach(f, it) != 0) {
    emu_item_free(it);
    return NULL;
  }
  return it;
}

/* ---- folders ---- */

static void folder_free(struct emu_folder *f)
{
  struct emu *emu = f->mbx->emu;

  pthread_mutex_lock(&emu->store_lock);
  emu_index_del(&emu->folder_index, f->num, f);
  for(size_t i = 0; i < f->nitems; i++)
    emu_index_del(&emu->item_index, f->items[i]->num, f->items[i]);
  pthread_mutex_unlock(&emu->store_lock);
  for(size_t i = 0; i < f->nitems; i++)
    emu_item_free(f->items[i]);
  free(f->items);
  free(f->tombs);
  free(f->distinguished);
  free(f->name);
  free(f->folder_class);
  emu_prop_free_list(f->props);
  free(f);
}

struct emu_folder *emu_folder_add(struct emu *emu, struct emu_mailbox *m, struct emu_folder *parent,
                                  const char *distinguished, const char *name, const char *cls)
{
  struct emu_folder *f = calloc(1, sizeof(*f));

  if(!f)
    return NULL;
  if(m->nfolders == m->capfolders) {
    size_t ncap = m->capfolders ? m->capfolders * 2 : 16;
    struct emu_folder **n = realloc(m->folders, ncap * sizeof(*n));
    if(!n) {
      free(f);
      return NULL;
    }
    m->folders = n;
    m->capfolders = ncap;
  }
  f->mbx = m;
  pthread_mutex_lock(&emu->store_lock);
  f->num = ++emu->next_num;
  if(emu_index_put(&emu->folder_index, f->num, f) != 0) {
    pthread_mutex_unlock(&emu->store_lock);
    free(f);
    return NULL;
  }
  pthread_mutex_unlock(&emu->store_lock);
  f->ck = 1;
  f->mtime_ms = emu_stamp_ms(0);
  f->parent = parent;
  f->distinguished = emu_strdup(distinguished);
  f->name = emu_strdup(name);
  f->folder_class = emu_strdup(cls ? cls : "IPF.Note");
  f->created_hseq = f->hseq = ++m->hier_seq;
  m->folders[m->nfolders++] = f;
  return f;
}

void emu_folder_touch(struct emu_folder *f)
{
  f->ck++;
  f->hseq = ++f->mbx->hier_seq;
}

void emu_folder_remove(struct emu_folder *f)
{
  struct emu_mailbox *m = f->mbx;

  /* children first (they come later in the array, but any order works) */
  for(size_t i = 0; i < m->nfolders;) {
    if(m->folders[i]->parent == f) {
      emu_folder_remove(m->folders[i]);
      i = 0;
      continue;
    }
    i++;
  }
  for(size_t i = 0; i < m->nfolders; i++) {
    if(m->folders[i] == f) {
      memmove(&m->folders[i], &m->folders[i + 1], (m->nfolders - i - 1) * sizeof(m->folders[0]));
      m->nfolders--;
      break;
    }
  }
  if(f->parent)
    f->parent->ck++;
  if(m->nftombs == m->capftombs) {
    size_t ncap = m->capftombs ? m->capftombs * 2 : 8;
    struct emu_tombstone *n = realloc(m->ftombs, ncap * sizeof(*n));
    if(n) {
      m->ftombs = n;
      m->capftombs = ncap;
    }
  }
  if(m->nftombs < m->capftombs) {
    struct emu_tombstone *t = &m->ftombs[m->nftombs++];
    t->num = f->num;
    t->ck = f->ck;
    t->created_seq = f->created_hseq;
    t->seq = ++m->hier_seq;
  }
  folder_free(f);
}

struct emu_folder *emu_folder_distinguished(struct emu_mailbox *m, const char *name)
{
  if(!m || !name)
    return NULL;
  for(size_t i = 0; i < m->nfolders; i++)
    if(m->folders[i]->distinguished && strcasecmp(m->folders[i]->distinguished, name) == 0)
      return m->folders[i];
  return NULL;
}

struct emu_folder *emu_folder_by_num(struct emu *emu, uint64_t num)
{
  struct emu_folder *f;

  pthread_mutex_lock(&emu->store_lock);
  f = emu_index_get(&emu->folder_index, num);
  pthread_mutex_unlock(&emu->store_lock);
  return f;
}

/* ---- mailboxes and users ---- */

static const struct {
  const char *id, *name, *cls;
  bool under_root;
} std_folders[] = {
    {"msgfolderroot", "Top of Information Store", "IPF.Note", false},
    {"inbox", "Inbox", "IPF.Note", true},
    {"sentitems", "Sent Items", "IPF.Note", true},
    {"drafts", "Drafts", "IPF.Note", true},
    {"outbox", "Outbox", "IPF.Note", true},
    {"deleteditems", "Deleted Items", "IPF.Note", true},
    {"junkemail", "Junk Email", "IPF.Note", true},
    {"calendar", "Calendar", "IPF.Appointment", true},
    {"contacts", "Contacts", "IPF.Contact", true},
    {"tasks", "Tasks", "IPF.Task", true},
};

static void mailbox_free(struct emu_mailbox *m)
{
  for(size_t i = 0; i < m->nfolders; i++)
    folder_free(m->folders[i]);
  free(m->folders);
  free(m->ftombs);
  free(m->smtp);
  free(m->display);
  free(m->owner);
  emu_strv_free(m->delegates, m->ndelegates);
  pthread_rwlock_destroy(&m->lock);
  free(m);
}

struct emu_mailbox *emu_mailbox_find(struct emu *emu, const char *smtp)
{
  return emu_index_get_mailbox(&emu->mailbox_index, smtp);
}

struct emu_mailbox *emu_mailbox_add(struct emu *emu, const char *smtp, const char *display,
                                    const char *owner)
{
  struct emu_mailbox *m;
  struct emu_mailbox **n;
  struct emu_folder *root = NULL;

  m = emu_mailbox_find(emu, smtp);
  if(m)
    return m;
  n = realloc(emu->mailboxes, (emu->nmailboxes + 1) * sizeof(*n));
  if(!n)
    return NULL;
  emu->mailboxes = n;
  m = calloc(1, sizeof(*m));
  if(!m)
    return NULL;
  m->emu = emu;
  pthread_rwlock_init(&m->lock, NULL);
  m->smtp = emu_strdup_lower(smtp);
  m->display = emu_strdup(display ? display : smtp);
  m->owner = emu_strdup(owner);
  m->index = emu->nmailboxes;
  for(size_t i = 0; i < sizeof(std_folders) / sizeof(std_folders[0]); i++) {
    struct emu_folder *f =
        emu_folder_add(emu, m, std_folders[i].under_root ? root : NULL, std_folders[i].id,
                       std_folders[i].name, std_folders[i].cls);
    if(!f) {
      mailbox_free(m);
      return NULL;
    }
    if(!root)
      root = f;
  }
  if(emu_index_put_mailbox(&emu->mailbox_index, m) != 0) {
    mailbox_free(m);
    return NULL;
  }
  emu->mailboxes[emu->nmailboxes++] = m;
  return m;
}

bool emu_mailbox_is_delegate(const struct emu_mailbox *m, const char *login)
{
  if(!login)
    return false;
  if(m->owner && strcasecmp(m->owner, login) == 0)
    return true;
  for(size_t i = 0; i < m->ndelegates; i++)
    if(strcasecmp(m->delegates[i], login) == 0)
      return true;
  return false;
}

struct emu_user *emu_user_find(struct emu *emu, const char *login)
{
  if(!login)
    return NULL;
  for(size_t i = 0; i < emu->nusers; i++)
    if(strcasecmp(emu->users[i]->login, login) == 0)
      return emu->users[i];
  return NULL;
}

struct emu_user *emu_user_add(struct emu *emu, const char *login, const char *password,
                              const char *domain, const char *smtp)
{
  struct emu_user *u = emu_user_find(emu, login);
  struct emu_user **n;

  if(u) {
    free(u->password);
    u->password = emu_strdup(password);
    return u;
  }
  n = realloc(emu->users, (emu->nusers + 1) * sizeof(*n));
  if(!n)
    return NULL;
  emu->users = n;
  u = calloc(1, sizeof(*u));
  if(!u)
    return NULL;
  u->login = emu_strdup(login);
  u->password = emu_strdup(password ? password : "");
  u->domain = emu_strdup(domain ? domain : "");
  u->smtp = emu_strdup_lower(smtp);
  emu->users[emu->nusers++] = u;
  return u;
}

bool emu_user_may_impersonate(const struct emu_user *u, const char *smtp)
{
  if(u->impersonate_all)
    return true;
  for(size_t i = 0; i < u->nimpersonate; i++)
    if(strcasecmp(u->impersonate[i], smtp) == 0)
      return true;
  return false;
}

static void user_free(struct emu_user *u)
{
  free(u->login);
  free(u->password);
  free(u->domain);
  free(u->smtp);
  emu_strv_free(u->impersonate, u->nimpersonate);
  free(u);
}

void emu_store_clear(struct emu *emu)
{
  for(size_t i = 0; i < emu->nmailboxes; i++)
    mailbox_free(emu->mailboxes[i]);
  free(emu->mailboxes);
  emu->mailboxes = NULL;
  emu->nmailboxes = 0;
  emu_index_free(&emu->item_index);
  emu_index_free(&emu->folder_index);
  emu_index_free(&emu->mailbox_index);
  for(size_t i = 0; i < emu->nusers; i++)
    user_free(emu->users[i]);
  free(emu->users);
  emu->users = NULL;
  emu->nusers = 0;
  emu->users_gen++;
}

void emu_deliver(struct emu *emu, const struct emu_item *msg)
{
  char **rcpt[2] = {msg->to, msg->cc};
  size_t nrcpt[2] = {msg->nto, msg->ncc};

  for(int k = 0; k < 2; k++) {
    for(size_t i = 0; i < nrcpt[k]; i++) {
      struct emu_mailbox *m = emu_mailbox_find(emu, rcpt[k][i]);
      struct emu_folder *inbox = emu_folder_distinguished(m, "inbox");
      struct emu_item *copy;
      if(!inbox)
        continue;
      copy = emu_item_copy(emu, msg, inbox);
      if(copy) {
        copy->is_read = false;
        copy->is_draft = false;
        copy->received = time(NULL);
      }
    }
  }
}

struct emu_delivery {
  struct emu_mailbox *to;
  struct emu_item *copy;
  struct emu_delivery *next;
};

void emu_deliver_later(struct emu_ews_ctx *ctx, const struct emu_item *msg)
{
  char **rcpt[2] = {msg->to, msg->cc};
  size_t nrcpt[2] = {msg->nto, msg->ncc};

  if(ctx->exclusive) {
    emu_deliver(ctx->emu, msg);
    return;
  }
  for(int k = 0; k < 2; k++) {
    for(size_t i = 0; i < nrcpt[k]; i++) {
      struct emu_mailbox *m = emu_mailbox_find(ctx->emu, rcpt[k][i]);
      struct emu_delivery *d;
      if(!m)
        continue;
      d = calloc(1, sizeof(*d));
      if(!d)
        return;
      d->copy = emu_item_copy(ctx->emu, msg, NULL);
      if(!d->copy) {
        free(d);
        return;
      }
      d->to = m;
      d->copy->is_read = false;
      d->copy->is_draft = false;
      d->copy->received = time(NULL);
      d->next = ctx->deliveries;
      ctx->deliveries = d;
    }
  }
}

void emu_deliveries_run(struct emu_ews_ctx *ctx)
{
  struct emu_delivery *d, *rev = NULL;

  /* in the order the recipients were named */
  while((d = ctx->deliveries) != NULL) {
    ctx->deliveries = d->next;
    d->next = rev;
    rev = d;
  }
  while((d = rev) != NULL) {
    struct emu_folder *inbox;
    rev = d->next;
    pthread_rwlock_wrlock(&d->to->lock);
    inbox = emu_folder_distinguished(d->to, "inbox");
    if(!inbox || emu_item_attach(inbox, d->copy) != 0)
      emu_item_free(d->copy);
    pthread_rwlock_unlock(&d->to->lock);
    free(d);
  }
}

bool emu_ews_may_touch(const struct emu_ews_ctx *ctx, const struct emu_mailbox *m)
{
  if(ctx->exclusive)
    return true;
  for(size_t i = 0; i < ctx->nlocked; i++)
    if(ctx->locked[i] == m)
      return true;
  return false;
}

void emu_world_init(struct emu *emu)
{
  pthread_rwlockattr_t attr;

  pthread_rwlockattr_init(&attr);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
  /* the admin API and test inspection get their turn under a steady load
   * (no thread takes the world lock twice for reading) */
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
  pthread_rwlock_init(&emu->world, &attr);
  pthread_rwlockattr_destroy(&attr);
}

void emu_world_destroy(struct emu *emu)
{
  pthread_rwlock_destroy(&emu->world);
}

void emu_world_read(struct emu *emu)
{
  pthread_rwlock_rdlock(&emu->world);
}

void emu_world_write(struct emu *emu)
{
  pthread_rwlock_wrlock(&emu->world);
}

void emu_world_unlock(struct emu *emu)
{
  pthread_rwlock_unlock(&emu->world);
}

long emu_folder_count(struct emu *emu, const char *smtp, const char *folder)
{
  long result = -1;
  struct emu_folder *f;

  emu_world_write(emu);
  f = emu_folder_distinguished(emu_mailbox_find(emu, smtp), folder);
  if(f)
    result = (long)f->nitems;
  emu_world_unlock(emu);
  return result;
}

int emu_deliver_message(struct emu *emu, const char *from, const char *to, const char *subject,
                        const char *body, char *err, size_t errlen)
{
  struct emu_item *it;
  char mid[128];
  int result = -1;

  emu_world_write(emu);
  if(!emu_folder_distinguished(emu_mailbox_find(emu, to), "inbox")) {
    snprintf(err, errlen, "no mailbox %s", to ? to : "(none)");
    goto out;
  }
  it = emu_item_new(emu, NULL);
  if(!it) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  it->item_class = strdup("IPM.Note");
  it->from = strdup(from && *from ? from : "sender@example.com");
  it->subject = strdup(subject ? subject : "");
  it->body = strdup(body ? body : "");
  snprintf(mid, sizeof(mid), "<%llu.deliver@exsync.invalid>", (unsigned long long)it->num);
  it->message_id = strdup(mid);
  emu_strv_add(&it->to, &it->nto, to);
  emu_deliver(emu, it);
  emu_item_free(it);
  result = 0;
out:
  emu_world_unlock(emu);
  return result;
}

int emu_get_folder_property(struct emu *emu, const char *smtp, const char *folder, const char *name,
                            char *out, size_t outlen)
{
  struct emu_folder *f;
  struct emu_prop key, *p;
  int result = -1;

  memset(&key, 0, sizeof(key));
  key.dset = (char *)"PublicStrings";
  key.name = (char *)name;
  out[0] = '\0';
  emu_world_write(emu);
  f = emu_folder_distinguished(emu_mailbox_find(emu, smtp), folder);
  if(!f)
    goto out;
  p = emu_prop_find(f->props, &key);
  if(p)
    snprintf(out, outlen, "%s", p->value);
  result = p ? 0 : 1;
out:
  emu_world_unlock(emu);
  return result;
}

const char *emu_strcasestr(const char *hay, const char *needle)
{
  size_t n = strlen(needle);

  for(; hay && *hay; hay++)
    if(strncasecmp(hay, needle, n) == 0)
      return hay;
  return n == 0 ? hay : NULL;
}

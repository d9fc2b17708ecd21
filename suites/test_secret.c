/* test_secret.c - AES-256-GCM sealing and the key file rules. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync/buf.h"
#include "exsync/secret.h"
#include "testutil.h"

static char dir[256];

static void setup(void)
{
  snprintf(dir, sizeof(dir), "/tmp/exsync-secret-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
  char cmd[300];

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static const char *kpath(const char *name)
{
  static char p[2][300];
  static int n;
  char *b = p[n++ % 2];

  snprintf(b, 300, "%s/%s", dir, name);
  return b;
}

static void write_file(const char *path, const char *data, size_t n, mode_t mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
  close(fd);
  ck_assert_int_eq(chmod(path, mode), 0);
}

static const char *texts[] = {"", "p", "Pa$$w0rd!", "CONTOSO\\svc-crm:ünïcödé",
                              "0123456789012345678901234567890123456789012345678901234567890123"
                              "4567890123456789"};

START_TEST(round_trip)
{
  struct exs_error e;
  struct exs_secret *s = exs_secret_open(kpath("key"), &e);
  char *blob = NULL;
  char out[256];

  ck_assert_msg(s != NULL, "%s", e.message);
  ck_assert_int_eq(exs_secret_encrypt(s, texts[_i], &blob, &e), 0);
  ck_assert(exs_secret_is_sealed(blob));
  if(strlen(texts[_i]) >= 8)
    ck_assert_ptr_null(strstr(blob, texts[_i]));
  ck_assert_int_eq(exs_secret_decrypt(s, blob, out, sizeof(out), &e), 0);
  ck_assert_str_eq(out, texts[_i]);
  free(blob);
  exs_secret_free(s);

  /* a second handle on the same key file reads it back */
  s = exs_secret_open(kpath("key"), &e);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(exs_secret_encrypt(s, texts[_i], &blob, &e), 0);
  exs_secret_free(s);
  s = exs_secret_open(kpath("key"), &e);
  ck_assert_int_eq(exs_secret_decrypt(s, blob, out, sizeof(out), &e), 0);
  ck_assert_str_eq(out, texts[_i]);
  free(blob);
  exs_secret_free(s);
}
END_TEST

START_TEST(key_file_created_0600_whatever_the_umask)
{
  struct exs_error e;
  struct exs_secret *s;
  struct stat st;
  mode_t old = umask(0);

  s = exs_secret_open(kpath("key"), &e);
  umask(old);
  ck_assert_msg(s != NULL, "%s", e.message);
  ck_assert_int_eq(stat(kpath("key"), &st), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0600);
  ck_assert_int_eq(st.st_size, 65);
  exs_secret_free(s);
  /* no temp file left behind */
  ck_assert_int_ne(access(kpath("key.tmp"), F_OK), 0);
}
END_TEST

START_TEST(two_encryptions_differ)
{
  struct exs_error e;
  struct exs_secret *s = exs_secret_open(kpath("key"), &e);
  char *a = NULL, *b = NULL;

  ck_assert_int_eq(exs_secret_encrypt(s, "same text", &a, &e), 0);
  ck_assert_int_eq(exs_secret_encrypt(s, "same text", &b, &e), 0);
  ck_assert_str_ne(a, b);
  free(a);
  free(b);
  exs_secret_free(s);
}
END_TEST

/* A value bound to a context opens only with that context. */
START_TEST(bound_values_open_only_in_their_place)
{
  struct exs_error e;
  struct exs_secret *s = exs_secret_open(kpath("key"), &e);
  char *bound = NULL, *plain = NULL;
  char out[64];

  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(
      exs_secret_encrypt_for(s, "Canary-Pw-9", "mailboxes:password_enc:a@x", &bound, &e), 0);
  ck_assert_int_eq(
      exs_secret_decrypt_for(s, bound, "mailboxes:password_enc:a@x", out, sizeof(out), &e), 0);
  ck_assert_str_eq(out, "Canary-Pw-9");
  ck_assert_int_eq(
      exs_secret_decrypt_for(s, bound, "mailboxes:password_enc:b@x", out, sizeof(out), &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, "moved"));
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(exs_secret_decrypt(s, bound, out, sizeof(out), &e), -1);
  ck_assert_int_eq(exs_secret_decrypt_for(s, bound, "", out, sizeof(out), &e), -1);
  ck_assert_int_eq(exs_secret_encrypt(s, "Canary-Pw-9", &plain, &e), 0);
  ck_assert_int_eq(
      exs_secret_decrypt_for(s, plain, "mailboxes:password_enc:a@x", out, sizeof(out), &e), -1);
  ck_assert_int_eq(exs_secret_decrypt_for(s, plain, NULL, out, sizeof(out), &e), 0);
  ck_assert_str_eq(out, "Canary-Pw-9");
  free(bound);
  free(plain);
  exs_secret_free(s);
}
END_TEST

START_TEST(wrong_key_fails_cleanly)
{
  struct exs_error e;
  struct exs_secret *s1 = exs_secret_open(kpath("key1"), &e);
  struct exs_secret *s2 = exs_secret_open(kpath("key2"), &e);
  char *blob = NULL;
  char out[64];

  ck_assert_ptr_nonnull(s1);
  ck_assert_ptr_nonnull(s2);
  ck_assert_int_eq(exs_secret_encrypt(s1, "Canary-Pw-77", &blob, &e), 0);
  exs_error_clear(&e);
  strcpy(out, "junk");
  ck_assert_int_eq(exs_secret_decrypt(s2, blob, out, sizeof(out), &e), -1);
  ck_assert_int_eq(e.category, EXS_CAT_CONFIG);
  ck_assert_ptr_nonnull(strstr(e.message, "wrong key"));
  ck_assert_ptr_null(strstr(e.message, "Canary"));
  ck_assert_str_eq(out, "");
  free(blob);
  exs_secret_free(s1);
  exs_secret_free(s2);
}
END_TEST

START_TEST(tampered_blob_fails)
{
  struct exs_error e;
  struct exs_secret *s = exs_secret_open(kpath("key"), &e);
  char *blob = NULL;
  char out[64];
  size_t i, n;
  struct exs_buf raw;

  ck_assert_int_eq(exs_secret_encrypt(s, "Canary-Pw-77", &blob, &e), 0);
  n = strlen(blob);
  /* flip one bit of each byte of nonce, ciphertext and tag in turn */
  exs_buf_init(&raw, 4096);
  ck_assert_int_eq(exs_base64_decode(&raw, blob + 3, n - 3), 0);
  ck_assert_uint_eq(raw.len, 12 + 12 + 16);
  for(i = 0; i < raw.len; i++) {
    struct exs_buf t;
    exs_buf_init(&t, 4096);
    raw.data[i] ^= 0x20;
    ck_assert_int_eq(exs_buf_adds(&t, "v1:"), 0);
    ck_assert_int_eq(exs_base64_encode(&t, (unsigned char *)raw.data, raw.len), 0);
    raw.data[i] ^= 0x20;
    exs_error_clear(&e);
    ck_assert_int_eq(exs_secret_decrypt(s, t.data, out, sizeof(out), &e), -1);
    ck_assert_int_eq(e.category, EXS_CAT_CONFIG);
    ck_assert_ptr_nonnull(strstr(e.message, "altered"));
    ck_assert_ptr_null(strstr(e.message, "Canary"));
    exs_buf_free(&t);
  }
  exs_buf_free(&raw);
  ck_assert_int_eq(exs_secret_decrypt(s, blob, out, sizeof(out), &e), 0);
  ck_assert_str_eq(out, "Canary-Pw-77");

  static const char *corrupt[] = {"",
                                  "v1:",
                                  "v2:AAAA",
                                  "v1:!!!!",
                                  "v1:AAAA",
                                  "plaintext",
                                  "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="};
  for(i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
    exs_error_clear(&e);
    ck_assert_int_eq(exs_secret_decrypt(s, corrupt[i], out, sizeof(out), &e), -1);
    ck_assert(e.message[0]);
  }
  /* truncated blob */
  blob[n / 2] = 0;
  ck_assert_int_eq(exs_secret_decrypt(s, blob, out, sizeof(out), &e), -1);
  free(blob);
  exs_secret_free(s);
}
END_TEST

START_TEST(output_too_small_refused)
{
  struct exs_error e;
  struct exs_secret *s = exs_secret_open(kpath("key"), &e);
  char *blob = NULL;
  char out[4];

  ck_assert_int_eq(exs_secret_encrypt(s, "longer", &blob, &e), 0);
  ck_assert_int_eq(exs_secret_decrypt(s, blob, out, sizeof(out), &e), -1);
  ck_assert_str_eq(out, "");
  free(blob);
  exs_secret_free(s);
}
END_TEST

static const struct {
  const char *label;
  const char *content;
  mode_t mode;
  const char *word;
} bad_keys[] = {
    {"group readable", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 0640,
     "0640"},
    {"world readable", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 0604,
     "group or others"},
    {"short", "0011\n", 0600, "bytes"},
    {"long", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00\n", 0600, "bytes"},
    {"not hex", "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 0600,
     "malformed"},
    {"no newline but 65", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0", 0600,
     "malformed"},
};

START_TEST(bad_key_file_refused)
{
  struct exs_error e;
  struct exs_secret *s;

  write_file(kpath("key"), bad_keys[_i].content, strlen(bad_keys[_i].content), bad_keys[_i].mode);
  exs_error_clear(&e);
  s = exs_secret_open(kpath("key"), &e);
  ck_assert_msg(s == NULL, "%s accepted", bad_keys[_i].label);
  ck_assert_int_eq(e.category, EXS_CAT_CONFIG);
  ck_assert_msg(strstr(e.message, bad_keys[_i].word) != NULL, "%s: %s", bad_keys[_i].label,
                e.message);
  ck_assert_ptr_nonnull(strstr(e.message, kpath("key")));
  ck_assert_ptr_null(strstr(e.message, "00112233"));
}
END_TEST

START_TEST(good_key_file_without_newline)
{
  struct exs_error e;
  struct exs_secret *s;
  static const char k[] = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

  write_file(kpath("key"), k, 64, 0400);
  s = exs_secret_open(kpath("key"), &e);
  ck_assert_msg(s != NULL, "%s", e.message);
  exs_secret_free(s);
  exs_secret_free(NULL);
}
END_TEST

START_TEST(missing_directory_is_clear_error)
{
  struct exs_error e;

  exs_error_clear(&e);
  ck_assert_ptr_null(exs_secret_open(kpath("nodir/key"), &e));
  ck_assert_ptr_nonnull(strstr(e.message, "nodir/key"));
  ck_assert_ptr_null(exs_secret_open("", &e));
}
END_TEST

/* Several processes racing to create the key file all end with the same key. */
START_TEST(concurrent_creation_agrees)
{
  struct exs_error e;
  struct exs_secret *s;
  char out[32];
  char *blobs[4];
  int i, status;

  for(i = 0; i < 4; i++) {
    char name[300];
    pid_t pid;
    snprintf(name, sizeof(name), "%s/blob%d", dir, i);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if(pid == 0) {
      char *b = NULL;
      s = exs_secret_open(kpath("key"), &e);
      if(!s || exs_secret_encrypt(s, "race", &b, &e))
        _exit(1);
      FILE *f = fopen(name, "w");
      fputs(b, f);
      fclose(f);
      _exit(0);
    }
  }
  for(i = 0; i < 4; i++) {
    ck_assert_int_gt(wait(&status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  s = exs_secret_open(kpath("key"), &e);
  ck_assert_ptr_nonnull(s);
  for(i = 0; i < 4; i++) {
    char name[300];
    snprintf(name, sizeof(name), "%s/blob%d", dir, i);
    blobs[i] = tu_read_file(name, NULL);
    ck_assert_int_eq(exs_secret_decrypt(s, blobs[i], out, sizeof(out), &e), 0);
    ck_assert_str_eq(out, "race");
    free(blobs[i]);
  }
  exs_secret_free(s);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *secret_suite(void)
{
  Suite *s = suite_create("secret");
  TCase *tc = tcase_create("core");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, round_trip, 0, N(texts));
  tcase_add_test(tc, key_file_created_0600_whatever_the_umask);
  tcase_add_test(tc, two_encryptions_differ);
  tcase_add_test(tc, wrong_key_fails_cleanly);
  tcase_add_test(tc, tampered_blob_fails);
  tcase_add_test(tc, output_too_small_refused);
  tcase_add_loop_test(tc, bad_key_file_refused, 0, N(bad_keys));
  tcase_add_test(tc, good_key_file_without_newline);
  tcase_add_test(tc, missing_directory_is_clear_error);
  tcase_add_test(tc, concurrent_creation_agrees);
  tcase_add_test(tc, bound_values_open_only_in_their_place);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(secret_suite());
}

/* test_base.c - buffers, base64, safe XML parsing, time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/buf.h"
#include "exsync/clock.h"
#include "exsync/xml.h"
#include "testutil.h"

START_TEST(buf_cap_is_hard)
{
  struct exs_buf b;

  exs_buf_init(&b, 8);
  ck_assert_int_eq(exs_buf_adds(&b, "12345678"), 0);
  ck_assert_int_eq(exs_buf_adds(&b, "9"), -1);
  ck_assert_str_eq(b.data, "12345678"); /* unchanged after a refused append */
  exs_buf_free(&b);
}
END_TEST

START_TEST(buf_xml_escape)
{
  struct exs_buf b;

  exs_buf_init(&b, 1024);
  ck_assert_int_eq(exs_buf_add_xml(&b, "a<b>&\"c'"), 0);
  ck_assert_str_eq(b.data, "a&lt;b&gt;&amp;&quot;c&apos;");
  exs_buf_free(&b);
}
END_TEST

static const struct {
  const char *plain;
  const char *encoded;
} b64_cases[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

START_TEST(base64_rfc4648_vectors)
{
  struct exs_buf e, d;

  exs_buf_init(&e, 64);
  exs_buf_init(&d, 64);
  ck_assert_int_eq(exs_base64_encode(&e, (const unsigned char *)b64_cases[_i].plain,
                                     strlen(b64_cases[_i].plain)),
                   0);
  ck_assert_str_eq(e.data ? e.data : "", b64_cases[_i].encoded);
  ck_assert_int_eq(exs_base64_decode(&d, b64_cases[_i].encoded, strlen(b64_cases[_i].encoded)), 0);
  ck_assert_str_eq(d.data ? d.data : "", b64_cases[_i].plain);
  exs_buf_free(&e);
  exs_buf_free(&d);
}
END_TEST

START_TEST(base64_rejects_garbage)
{
  struct exs_buf d;

  exs_buf_init(&d, 64);
  ck_assert_int_eq(exs_base64_decode(&d, "Zm9v!", 5), -1);
  ck_assert_int_eq(exs_base64_decode(&d, "Zg==Zg", 6), -1);
  exs_buf_free(&d);
}
END_TEST

START_TEST(xml_refuses_doctype_and_entities)
{
  static const char bomb[] =
      "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;\">]>"
      "<x>&b;</x>";
  static const char external[] =
      "<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"http://127.0.0.1:1/x.dtd\"><x/>";
  char err[256];

  ck_assert_ptr_null(exs_xml_parse(bomb, sizeof(bomb) - 1, "bomb", err, sizeof(err)));
  ck_assert_ptr_nonnull(strstr(err, "DOCTYPE"));
  ck_assert_ptr_null(exs_xml_parse(external, sizeof(external) - 1, "ext", err, sizeof(err)));
}
END_TEST

START_TEST(xml_depth_and_wellformedness)
{
  char doc[4096] = "";
  char err[256];
  int i;

  for(i = 0; i < 100; i++)
    strcat(doc, "<a>");
  for(i = 0; i < 100; i++)
    strcat(doc, "</a>");
  ck_assert_ptr_null(exs_xml_parse(doc, strlen(doc), "deep", err, sizeof(err)));
  ck_assert_ptr_nonnull(strstr(err, "deeper"));
  ck_assert_ptr_null(exs_xml_parse("<a><b></a>", 10, "bad.xml", err, sizeof(err)));
  ck_assert_ptr_nonnull(strstr(err, "bad.xml:1:"));
}
END_TEST

/* A document of one element with n attributes a0="v" a1="v" ... (the
 * shape that makes libxml2's duplicate check quadratic). */
static char *many_attrs(size_t n, const char *pre, size_t *len)
{
  struct exs_buf b;

  exs_buf_init(&b, 64u << 20);
  exs_buf_adds(&b, pre);
  exs_buf_adds(&b, "<root");
  for(size_t i = 0; i < n; i++)
    exs_buf_addf(&b, " a%zu=\"v\"", i);
  exs_buf_adds(&b, "/>");
  *len = b.len;
  return exs_buf_steal(&b);
}

START_TEST(xml_work_is_bounded)
{
  char err[256];
  size_t len;
  char *d;
  xmlDocPtr doc;
  int64_t t0;

  /* 50,000 attributes (about 500 KB): refused before libxml2 parses */
  d = many_attrs(50000, "<?xml version=\"1.0\"?>\n\n", &len);
  t0 = exs_monotonic_ms();
  ck_assert_ptr_null(exs_xml_parse(d, len, "attrs.xml", err, sizeof(err)));
  fprintf(stderr, "50,000 attributes (%zu bytes) refused in %lld ms: %s\n", len,
          (long long)(exs_monotonic_ms() - t0), err);
  ck_assert_msg(strstr(err, "attrs.xml:3: an element with more than 256 attributes") != NULL, "%s",
                err);
  free(d);
  /* the bound itself is fine, one more is not */
  d = many_attrs(EXS_XML_MAX_ATTRS, "", &len);
  doc = exs_xml_parse(d, len, "max", err, sizeof(err));
  ck_assert_msg(doc != NULL, "%s", err);
  xmlFreeDoc(doc);
  free(d);
  d = many_attrs(EXS_XML_MAX_ATTRS + 1, "", &len);
  ck_assert_ptr_null(exs_xml_parse(d, len, "max+1", err, sizeof(err)));
  free(d);
  /* '=' in values, text, comments and CDATA is not an attribute */
  {
    struct exs_buf b;
    exs_buf_init(&b, 1 << 20);
    exs_buf_adds(&b, "<r a=\"");
    for(int i = 0; i < 2000; i++)
      exs_buf_adds(&b, "x=y ");
    exs_buf_adds(&b, "\" b='=='><!-- ");
    for(int i = 0; i < 2000; i++)
      exs_buf_adds(&b, "<c d=1> ");
    exs_buf_adds(&b, "--><![CDATA[");
    for(int i = 0; i < 2000; i++)
      exs_buf_adds(&b, "<e f=1>");
    exs_buf_adds(&b, "]]>");
    for(int i = 0; i < 2000; i++)
      exs_buf_adds(&b, "k=v ");
    exs_buf_adds(&b, "<?pi ");
    for(int i = 0; i < 2000; i++)
      exs_buf_adds(&b, "g=1 ");
    exs_buf_adds(&b, "?></r>");
    doc = exs_xml_parse(b.data, b.len, "equals", err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
    xmlFreeDoc(doc);
    exs_buf_free(&b);
  }
  /* nodes in all */
  {
    struct exs_buf b;
    exs_buf_init(&b, 64u << 20);
    exs_buf_adds(&b, "<r>");
    for(unsigned i = 0; i < EXS_XML_MAX_NODES; i++)
      exs_buf_adds(&b, "<b/>");
    exs_buf_adds(&b, "</r>");
    ck_assert_ptr_null(exs_xml_parse(b.data, b.len, "nodes", err, sizeof(err)));
    ck_assert_msg(strstr(err, "nodes: more than 1000000 elements and attributes") != NULL, "%s",
                  err);
    exs_buf_free(&b);
  }
}
END_TEST

START_TEST(xml_lookup_helpers)
{
  static const char doc[] = "<r xmlns='urn:x'><a k='v'><b>text</b></a><a k='w'/></r>";
  char err[256], buf[32];
  xmlDocPtr d = exs_xml_parse(doc, sizeof(doc) - 1, "doc", err, sizeof(err));
  xmlNodePtr root, a;

  ck_assert_ptr_nonnull(d);
  root = xmlDocGetRootElement(d);
  a = exs_xml_child(root, "urn:x", "a");
  ck_assert_str_eq(exs_xml_attr(a, "k", buf, sizeof(buf)), "v");
  ck_assert_str_eq(exs_xml_text(exs_xml_path(root, "urn:x", "a/b"), buf, sizeof(buf)), "text");
  ck_assert_str_eq(exs_xml_attr(exs_xml_next(a, "urn:x", "a"), "k", buf, sizeof(buf)), "w");
  ck_assert_ptr_null(exs_xml_child(root, "urn:other", "a"));
  ck_assert_ptr_null(exs_xml_attr(a, "missing", buf, sizeof(buf)));
  xmlFreeDoc(d);
}
END_TEST

START_TEST(time_roundtrip)
{
  time_t t;
  char buf[32];

  ck_assert_int_eq(exs_time_parse("2026-01-01T00:00:00Z", &t), 0);
  ck_assert_int_eq((long long)t, 1767225600LL);
  ck_assert_str_eq(exs_time_iso(t, buf, sizeof(buf)), "2026-01-01T00:00:00Z");
  ck_assert_int_eq(exs_time_parse("2026-01-01T02:00:00.123+02:00", &t), 0);
  ck_assert_int_eq((long long)t, 1767225600LL);
  ck_assert_int_eq(exs_time_parse("2026-13-01T00:00:00Z", &t), -1);
  ck_assert_int_eq(exs_time_parse("yesterday", &t), -1);
  exs_clock_freeze(1000);
  ck_assert_int_eq((long long)exs_now(), 1000);
  exs_clock_freeze(0);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("base");
  TCase *tc = tcase_create("base");

  tcase_add_test(tc, buf_cap_is_hard);
  tcase_add_test(tc, buf_xml_escape);
  tcase_add_loop_test(tc, base64_rfc4648_vectors, 0, sizeof(b64_cases) / sizeof(b64_cases[0]));
  tcase_add_test(tc, base64_rejects_garbage);
  tcase_add_test(tc, xml_refuses_doctype_and_entities);
  tcase_add_test(tc, xml_depth_and_wellformedness);
  tcase_add_test(tc, xml_lookup_helpers);
  tcase_add_test(tc, xml_work_is_bounded);
  tcase_add_test(tc, time_roundtrip);
  suite_add_tcase(s, tc);
  return tu_run(s);
}

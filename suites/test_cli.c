#define _GNU_SOURCE /* memmem */
/* test_cli.c - the exsync command line end to end: exit codes, the admin
 * steps on a store, reports in three formats, and the canary password that
 * must never reach a trace, a report, the logs or the store. Each command
 * runs in a forked child (diag_main) with its output captured; the emulator
 * runs in-process on port 0 (cliworld.c). */
#include <fcntl.h>
#include <pty.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxml/xmlschemas.h>

#include "exsync-diag/emu.h"
#include "exsync-emulator/emulator.h"
#include "exsync/buf.h"
#include "exsync/xml.h"
#include "cliworld.h"
#include "testutil.h"

#define CANARY "Canary-Pa55w0rd-7Qx"

START_TEST(version_help_and_usage_errors)
{
  char *out;

  ck_assert_int_eq(cw_run(&out, "--version", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "exsync "));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--help", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "test-enable"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "frobnicate", NULL), 2);
  ck_assert_ptr_nonnull(strstr(out, "unknown command"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--format", "yaml", "demo", NULL), 2);
  free(out);
  ck_assert_int_eq(cw_run(&out, "test-enable", NULL), 2);
  ck_assert_ptr_nonnull(strstr(out, "--config"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "mailbox", "test-enable", "--help", NULL), 0);
  free(out);
}
END_TEST

START_TEST(bad_org_file_names_file_line_attribute)
{
  char *out;

  ck_assert_int_eq(
      cw_run(&out, "--db", cw_db_path, "import", tu_path("fixtures/orgs/bad-anonymous.xml"), NULL),
      2);
  ck_assert_ptr_nonnull(strstr(out, "bad-anonymous.xml:"));
  ck_assert_ptr_nonnull(strstr(out, "authenticate-using"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "test-enable", "--config",
                          tu_path("fixtures/orgs/bad-max-connections.xml"), NULL),
                   2);
  ck_assert_ptr_nonnull(strstr(out, "max-connections"));
  free(out);
}
END_TEST

START_TEST(store_less_test_enable_in_three_formats)
{
  char *out, err[256];
  xmlDocPtr doc;

  ck_assert_int_eq(cw_run(&out, "test-enable", "--config", cw_org_path, "--connect-to",
                          cw_connect_to, "--mailbox", "alice@contoso.com", NULL),
                   0);
  ck_assert_ptr_nonnull(strstr(out, "Incoming Email Status"));
  ck_assert_ptr_nonnull(strstr(out, "alice@contoso.com  Success                Success"));
  free(out);
  /* global options after the command, failures exit 1 */
  ck_assert_int_eq(cw_run(&out, "test-enable", "--config", cw_org_path, "--mailbox",
                          "dave@contoso.com", "--format", "json", "--connect-to", cw_connect_to,
                          NULL),
                   1);
  ck_assert_ptr_nonnull(strstr(out, "\"category\": \"IMPERSONATION\""));
  ck_assert_ptr_nonnull(strstr(out, "\"summary\": {\"mailboxes\": 1, \"success\": 0, "
                                    "\"failure\": 1, \"not_run\": 0"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--format", "junit", "--connect-to", cw_connect_to, "test-enable",
                          "--config", cw_org_path, "--mailbox", "dave@contoso.com", "--mailbox",
                          "alice@contoso.com", NULL),
                   1);
  doc = exs_xml_parse(out, strlen(out), "junit", err, sizeof(err));
  ck_assert_msg(doc != NULL, "%s", err);
  ck_assert_ptr_nonnull(strstr(out, "tests=\"6\" failures=\"3\""));
  ck_assert_ptr_nonnull(strstr(out, "<failure type=\"IMPERSONATION\""));
  xmlFreeDoc(doc);
  free(out);
  ck_assert_int_eq(
      cw_run(&out, "test-enable", "--config", cw_org_path, "--mailbox", "nobody@x.com", NULL), 2);
  free(out);
}
END_TEST

START_TEST(admin_steps_from_empty_store_to_report)
{
  char *out;

  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "import", cw_org_path, NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "1 profile, 11 mailboxes"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "test-enable", "ivan@contoso.com",
                          "--connect-to", cw_connect_to, NULL),
                   1);
  ck_assert_ptr_nonnull(strstr(out, "NOT_APPROVED"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "approve", "ivan@contoso.com", NULL),
                   0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "test-enable", "alice@contoso.com",
                          "bob@contoso.com", "--connect-to", cw_connect_to, NULL),
                   0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "show", "alice@contoso.com", NULL),
                   0);
  ck_assert_ptr_nonnull(strstr(out, "Success / Success / Success"));
  ck_assert_ptr_nonnull(strstr(out, "yes / yes / yes"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "alerts", "alice@contoso.com", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "TEST_OK"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "profile", "test-enable", "Exchange",
                          "--connect-to", cw_connect_to, "--format", "json", NULL),
                   1);
  ck_assert_ptr_nonnull(strstr(out, "\"mailboxes\": 11"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "job", "list", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "job 1  test-enable  profile 'Exchange'  failed  11/11"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "job", "wait", "1", NULL), 1);
  free(out);
  ck_assert_int_eq(
      cw_run(&out, "--db", cw_db_path, "profile", "set", "Exchange", "max-connections=0", NULL), 2);
  ck_assert_ptr_nonnull(strstr(out, "max-connections"));
  free(out);
  ck_assert_int_eq(
      cw_run(&out, "--db", cw_db_path, "profile", "set", "Exchange", "password=x", NULL), 2);
  ck_assert_ptr_nonnull(strstr(out, "never taken on the command line"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "org", "set", "allow-non-ssl=maybe", NULL), 2);
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "show", "nobody@contoso.com", NULL),
                   2);
  free(out);
  /* the key file gone: no new key for a store with sealed passwords */
  {
    char key[160], moved[170];
    snprintf(key, sizeof(key), "%s.key", cw_db_path);
    snprintf(moved, sizeof(moved), "%s.saved", key);
    ck_assert_int_eq(rename(key, moved), 0);
    ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "show", "alice@contoso.com", NULL),
                     2);
    ck_assert_ptr_nonnull(strstr(out, key));
    ck_assert_ptr_nonnull(strstr(out, "missing"));
    free(out);
    ck_assert_int_ne(access(key, F_OK), 0);
    ck_assert_int_eq(rename(moved, key), 0);
    ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "show", "alice@contoso.com", NULL),
                     0);
    free(out);
  }
  /* a trace file is never written through a symbolic link */
  {
    char link_path[160];
    snprintf(link_path, sizeof(link_path), "%s/trace-link", cw_dir);
    ck_assert_int_eq(symlink(cw_org_path, link_path), 0);
    ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--trace", link_path, "mailbox", "show",
                            "alice@contoso.com", NULL),
                     2);
    ck_assert_ptr_nonnull(strstr(out, "symbolic link"));
    free(out);
    out = tu_read_file(cw_org_path, NULL);
    ck_assert_ptr_nonnull(strstr(out, "<org"));
    free(out);
  }
}
END_TEST

/* Validate a JUnit report against the Jenkins schema kept in
 * fixtures/schema/junit (its README says where it comes from). */
static void assert_valid_junit(const char *xml, size_t len)
{
  xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(tu_path("fixtures/schema/junit/junit-10.xsd"));
  xmlSchemaPtr schema = xmlSchemaParse(pc);
  xmlSchemaValidCtxtPtr vc;
  xmlDocPtr doc;
  char err[256];

  ck_assert_ptr_nonnull(schema);
  doc = exs_xml_parse(xml, len, "junit", err, sizeof(err));
  ck_assert_msg(doc != NULL, "%s", err);
  vc = xmlSchemaNewValidCtxt(schema);
  ck_assert_msg(xmlSchemaValidateDoc(vc, doc) == 0, "JUnit report not valid:\n%s", xml);
  xmlSchemaFreeValidCtxt(vc);
  xmlFreeDoc(doc);
  xmlSchemaFree(schema);
  xmlSchemaFreeParserCtxt(pc);
}

START_TEST(one_option_parser_for_every_command)
{
  char *out, opt[200];

  /* --opt=value and --opt value alike */
  snprintf(opt, sizeof(opt), "--config=%s", cw_org_path);
  ck_assert_int_eq(cw_run(&out, "test-enable", opt, "--mailbox=alice@contoso.com", "--connect-to",
                          cw_connect_to, NULL),
                   0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "test-enable", "--config", NULL), 2);
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "option --config needs a value"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "test-enable", "--config", "--mailbox", "a@b.c", NULL), 2);
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "option --config needs a value"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", NULL), 2);
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "option --db needs a value"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "mailbox", "list", "--bogus", NULL), 2);
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "unknown option '--bogus'"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "sync", "--once=yes", NULL), 2);
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "option --once takes no value"));
  free(out);
  /* help: -h, --help, exsync help CMD; usage errors on stderr, exit 2 */
  ck_assert_int_eq(cw_run(&out, "-h", NULL), 0);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "Commands:"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "help", "test-enable", NULL), 0);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "usage: exsync test-enable --config ORG.xml"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "help", "mailbox", NULL), 0);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "usage: exsync mailbox add"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "autodiscover", "-h", NULL), 0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "mailbox", NULL), 2);
  ck_assert_str_eq(cw_last_stdout, "");
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "usage: exsync mailbox"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "job", NULL), 2);
  ck_assert_str_eq(cw_last_stdout, "");
  free(out);
  ck_assert_int_eq(cw_run(&out, NULL), 2);
  ck_assert_str_eq(cw_last_stdout, "");
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "usage: exsync"));
  free(out);
  /* -V: the libraries and the authentication features */
  ck_assert_int_eq(cw_run(&out, "-V", NULL), 0);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "exsync " EXSYNC_VERSION));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "libcurl "));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "OpenSSL "));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "libxml2 "));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "SQLite "));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "libevent "));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "Authentication: Basic"));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "NTLM"));
  free(out);
}
END_TEST

START_TEST(read_only_commands_never_create_a_store)
{
  static const char *const cmds[][3] = {
      {"status", NULL, NULL},       {"mailbox", "list", NULL}, {"job", "wait", "999"},
      {"alerts", NULL, NULL},       {"org", "show", NULL},     {"profile", "list", NULL},
      {"mailbox", "show", "a@b.c"}, {"sync", "--once", NULL},  {"activity", "list", NULL},
  };
  char key[160], *out;
  size_t i;

  snprintf(key, sizeof(key), "%s.key", cw_db_path);
  for(i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, cmds[i][0], cmds[i][1], cmds[i][2], NULL), 2);
    ck_assert_msg(strstr(cw_last_stderr, "no store at ") &&
                      strstr(cw_last_stderr, "(use --db or EXSYNC_DB, or create one with exsync "
                                             "import)"),
                  "%s: %s", cmds[i][0], cw_last_stderr);
    ck_assert_msg(access(cw_db_path, F_OK) != 0, "%s created the store", cmds[i][0]);
    ck_assert_msg(access(key, F_OK) != 0, "%s created the key", cmds[i][0]);
    free(out);
  }
  /* writers create it */
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "add", "zoe@contoso.com", NULL), 0);
  ck_assert_int_eq(access(cw_db_path, F_OK), 0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "mailbox", "list", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "zoe@contoso.com"));
  free(out);
}
END_TEST

START_TEST(formats_for_every_list_and_show)
{
  char *out;

  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "import", cw_org_path, NULL), 0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--format", "json", "mailbox", "list", NULL),
                   0);
  ck_assert_ptr_nonnull(strstr(out, "{\"mailboxes\": [\n  {\"address\": \"alice@contoso.com\""));
  ck_assert_ptr_nonnull(strstr(out, "\"enabled\": {\"incoming\": false"));
  free(out);
  ck_assert_int_eq(
      cw_run(&out, "--db", cw_db_path, "mailbox", "show", "bob@contoso.com", "--format=json", NULL),
      0);
  ck_assert_ptr_nonnull(strstr(out, "{\"address\": \"bob@contoso.com\""));
  ck_assert_ptr_nonnull(strstr(out, "\"last_error\": null"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--format", "json", "profile", "list", NULL),
                   0);
  ck_assert_ptr_nonnull(strstr(out, "{\"profiles\": [\n  {\"name\": \"Exchange\""));
  free(out);
  ck_assert_int_eq(
      cw_run(&out, "--db", cw_db_path, "--format", "json", "profile", "show", "Exchange", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "\"password\": \"(set, encrypted)\""));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--format", "json", "org", "show", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "\"default-profile\": \"Exchange\""));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--format", "json", "job", "list", NULL), 0);
  ck_assert_str_eq(out, "{\"jobs\": []}\n");
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--format", "json", "alerts", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "{\"alerts\": ["));
  free(out);
  /* an unsupported format is a usage error, never a silent text table */
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--format", "junit", "mailbox", "list", NULL),
                   2);
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "--format junit is not supported here"));
  ck_assert_str_eq(cw_last_stdout, "");
  free(out);
  ck_assert_int_eq(cw_run(&out, "--format", "junit", "autodiscover", "alice@contoso.com", NULL), 2);
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "not supported"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--format", "html", "job", "list", NULL), 2);
  free(out);
}
END_TEST

START_TEST(junit_report_for_ci)
{
  char *out, report[160], *xml, *p;
  double suite = 0, sum = 0;
  size_t len;

  /* valid against Jenkins' schema, timestamp, hostname, properties,
   * testcase times that add up to no more than the cw_run */
  snprintf(report, sizeof(report), "%s/t.xml", cw_dir);
  ck_assert_int_eq(cw_run(&out, "--format", "junit", "-o", report, "--connect-to", cw_connect_to,
                          "test-enable", "--config", cw_org_path, "--mailbox", "alice@contoso.com",
                          "--mailbox", "erin@contoso.com", NULL),
                   1);
  ck_assert_str_eq(cw_last_stdout, "");
  free(out);
  xml = tu_read_file(report, &len);
  assert_valid_junit(xml, len);
  ck_assert_ptr_nonnull(strstr(xml, " timestamp=\""));
  ck_assert_ptr_nonnull(strstr(xml, " hostname=\""));
  ck_assert_ptr_nonnull(strstr(xml, "<property name=\"exsync.version\""));
  ck_assert_ptr_nonnull(strstr(xml, "<property name=\"org.id\""));
  ck_assert_ptr_nonnull(strstr(xml, "workload: incoming"));
  /* one suite per mailbox: its testcases add up to its time */
  for(p = strstr(xml, "<testsuite "); p; p = strstr(p + 1, "<testsuite ")) {
    char *q, *next = strstr(p + 1, "<testsuite ");
    suite = strtod(strstr(p, " time=\"") + 7, NULL);
    sum = 0;
    for(q = strstr(p, "<testcase "); q && (!next || q < next); q = strstr(q + 1, "<testcase "))
      sum += strtod(strstr(q, " time=\"") + 7, NULL);
    ck_assert_msg(sum <= suite + 0.002, "testcases add up to %.3f s, their suite took %.3f s", sum,
                  suite);
  }
  free(xml);
  /* --failures-only */
  ck_assert_int_eq(cw_run(&out, "--format", "json", "--failures-only", "--connect-to",
                          cw_connect_to, "test-enable", "--config", cw_org_path, "--mailbox",
                          "alice@contoso.com", "--mailbox", "erin@contoso.com", NULL),
                   1);
  ck_assert_ptr_null(strstr(cw_last_stdout, "\"address\": \"alice@contoso.com\""));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "\"address\": \"erin@contoso.com\""));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "\"mailboxes\": 2, \"success\": 1, \"failure\": 1"));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "\"categories\": {\"ACCESS_DENIED\": 1}"));
  free(out);
  /* a configuration error still leaves a report carrying it */
  ck_assert_int_eq(cw_run(&out, "--format", "junit", "-o", report, "test-enable", "--config",
                          tu_path("fixtures/orgs/bad-max-connections.xml"), NULL),
                   2);
  free(out);
  xml = tu_read_file(report, &len);
  assert_valid_junit(xml, len);
  ck_assert_ptr_nonnull(strstr(xml, "errors=\"1\""));
  ck_assert_ptr_nonnull(strstr(xml, "<error type=\"CONFIG\" message=\""));
  ck_assert_ptr_nonnull(strstr(xml, "max-connections"));
  free(xml);
  ck_assert_int_eq(
      cw_run(&out, "--format", "json", "test-enable", "--config", "/nonexistent.xml", NULL), 2);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "{\n  \"error\": {\"category\": \"CONFIG\""));
  free(out);
  /* text: nothing written, no empty file left behind */
  unlink(report);
  ck_assert_int_eq(cw_run(&out, "-o", report, "test-enable", "--config", "/nonexistent.xml", NULL),
                   2);
  ck_assert_int_ne(access(report, F_OK), 0);
  free(out);
  {
    /* and no temporary file either */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -q 't.xml.tmp'", cw_dir);
    ck_assert_int_ne(system(cmd), 0);
  }
}
END_TEST

START_TEST(html_reports)
{
  char *out;

  ck_assert_int_eq(cw_run(&out, "--format", "html", "--connect-to", cw_connect_to, "test-enable",
                          "--config", cw_org_path, "--mailbox", "alice@contoso.com", "--mailbox",
                          "erin@contoso.com", NULL),
                   1);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<!DOCTYPE html>"));
  ck_assert_ptr_nonnull(
      strstr(cw_last_stdout, "<tr class=\"mailbox\" data-address=\"erin@contoso.com\">"));
  ck_assert_ptr_nonnull(strstr(
      cw_last_stdout, "<td class=\"outcome failure\" data-workload=\"incoming\">Failure</td>"));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "data-category=\"ACCESS_DENIED\""));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<div class=\"fix\">"));
  ck_assert_ptr_null(strstr(cw_last_stdout, "<script"));
  free(out);
  /* Autodiscover: the chain as a tree */
  ck_assert_int_eq(cw_run(&out, "--format", "html", "--connect-to", ":443:127.0.0.1:1",
                          "--connect-to", "::127.0.0.1:1", "autodiscover", "alice@contoso.com",
                          NULL),
                   1);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<ul class=\"tree\" id=\"chain\">"));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<li class=\"hop\"><b>hop 0</b>"));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<span class=\"mark error\">"));
  free(out);
  /* status */
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "import", cw_org_path, NULL), 0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--format", "html", "status", NULL), 0);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<table id=\"grid\">"));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "data-address=\"judy@contoso.com\""));
  free(out);
}
END_TEST

START_TEST(replay_in_every_format)
{
  char *out;
  const char *rec = tu_path("fixtures/recordings/ews_test_ok.xml");

  ck_assert_int_eq(cw_run(&out, "--format", "json", "replay", rec, NULL), 0);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "\"result\": \"same\", \"exit_code\": 0"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--format", "junit", "replay", rec, NULL), 0);
  assert_valid_junit(cw_last_stdout, strlen(cw_last_stdout));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<testcase classname=\"replay\""));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--format", "html", "replay", rec, NULL), 0);
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<b>Same</b>"));
  free(out);
  /* a configuration error of replay still gives a JUnit file */
  ck_assert_int_eq(cw_run(&out, "--format", "junit", "replay", "/nonexistent.xml", NULL), 2);
  assert_valid_junit(cw_last_stdout, strlen(cw_last_stdout));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<error type=\"CONFIG\""));
  free(out);
}
END_TEST

START_TEST(trace_to_stderr_with_separators_and_time)
{
  char *out, *p;
  int hh, mm, ss, ms;

  ck_assert_int_eq(cw_run(&out, "--trace", "-", "--connect-to", cw_connect_to, "test-enable",
                          "--config", cw_org_path, "--mailbox", "alice@contoso.com", "--mailbox",
                          "erin@contoso.com", NULL),
                   1);
  ck_assert_int_ne(access("-", F_OK), 0); /* no file named '-' */
  ck_assert_ptr_nonnull(
      strstr(cw_last_stderr, "=== exsync " EXSYNC_VERSION ": Test & Enable of 2 mailboxes ==="));
  ck_assert_ptr_nonnull(
      strstr(cw_last_stderr, "=== mailbox alice@contoso.com (profile 'Exchange') ==="));
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "=== end of alice@contoso.com: incoming Success"));
  ck_assert_ptr_nonnull(strstr(cw_last_stderr, "=== end of erin@contoso.com: incoming Failure"));
  p = strstr(cw_last_stderr, "> POST /EWS");
  ck_assert_ptr_nonnull(p);
  /* every line starts with a UTC time stamp */
  while(p > cw_last_stderr && p[-1] != '\n')
    p--;
  ck_assert_int_eq(sscanf(p, "%2d:%2d:%2d.%3d ", &hh, &mm, &ss, &ms), 4);
  ck_assert_ptr_null(strstr(cw_last_stdout, "> POST")); /* the report stays clean */
  free(out);
}
END_TEST

START_TEST(proxy_named_in_errors_and_bypassed)
{
  char *out;

  /* a proxy from the environment that refuses: the error names it (not
   * Exchange), without its password */
  setenv("http_proxy", "http://someone:" CANARY "@127.0.0.1:1", 1);
  ck_assert_int_eq(cw_run(&out, "--format", "json", "--connect-to", cw_connect_to, "test-enable",
                          "--config", cw_org_path, "--mailbox", "alice@contoso.com", NULL),
                   1);
  ck_assert_ptr_nonnull(
      strstr(cw_last_stdout, "(through the proxy http://127.0.0.1:1, from http_proxy)"));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "--noproxy"));
  ck_assert_ptr_null(strstr(out, CANARY));
  free(out);
  /* --noproxy HOST and --proxy '' go direct */
  ck_assert_int_eq(cw_run(&out, "--noproxy", "mail.contoso.com", "--connect-to", cw_connect_to,
                          "test-enable", "--config", cw_org_path, "--mailbox", "alice@contoso.com",
                          NULL),
                   0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "--proxy=", "--connect-to", cw_connect_to, "test-enable",
                          "--config", cw_org_path, "--mailbox", "alice@contoso.com", NULL),
                   0);
  free(out);
  unsetenv("http_proxy");
  /* --proxy URL names itself */
  ck_assert_int_eq(cw_run(&out, "--format", "json", "--proxy", "http://127.0.0.1:1", "--connect-to",
                          cw_connect_to, "test-enable", "--config", cw_org_path, "--mailbox",
                          "alice@contoso.com", NULL),
                   1);
  ck_assert_ptr_nonnull(
      strstr(cw_last_stdout, "(through the proxy http://127.0.0.1:1, from --proxy)"));
  free(out);
}
END_TEST

/* Run exsync on a pseudo-terminal (stdout and stderr) with TERM and
 * NO_COLOR as given (NULL: unset); everything it wrote, malloc'd. */
static char *run_tty(const char *term, const char *no_color, ...)
{
  char *argv[32], buf[4096], *all = NULL;
  size_t len = 0;
  int argc = 0, fd, status;
  ssize_t n;
  va_list ap;
  pid_t pid;

  argv[argc++] = "exsync";
  va_start(ap, no_color);
  while(argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
    argc++;
  va_end(ap);
  argv[argc] = NULL;
  fflush(NULL);
  pid = forkpty(&fd, NULL, NULL, NULL);
  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    if(term)
      setenv("TERM", term, 1);
    else
      unsetenv("TERM");
    if(no_color)
      setenv("NO_COLOR", no_color, 1);
    else
      unsetenv("NO_COLOR");
    status = diag_emu_main(argc, argv);
    fflush(NULL);
    _exit(status & 0xff);
  }
  for(;;) {
    n = read(fd, buf, sizeof(buf));
    if(n <= 0)
      break; /* EIO once the child is gone */
    all = realloc(all, len + (size_t)n + 1);
    ck_assert_ptr_nonnull(all);
    memcpy(all + len, buf, (size_t)n);
    len += (size_t)n;
  }
  close(fd);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  if(!all)
    all = calloc(1, 1);
  else
    all[len] = '\0';
  return all;
}

START_TEST(terminal_colour_and_progress)
{
  char *out;

  /* a terminal: Failure in red, the progress line with failures so far */
  out =
      run_tty("xterm", NULL, "--connect-to", cw_connect_to, "test-enable", "--config", cw_org_path,
              "--mailbox", "erin@contoso.com", "--mailbox", "alice@contoso.com", NULL);
  ck_assert_msg(strstr(out, "\033[31mFailure\033[0m") != NULL, "no red Failure:\n%s", out);
  ck_assert_msg(strstr(out, "test-enable [") && strstr(out, " failed"), "no progress:\n%s", out);
  ck_assert_msg(strstr(out, "1/2, ") && strstr(out, ", ETA "), "no ETA:\n%s", out);
  ck_assert_msg(strstr(out, "\033[K") != NULL, "no line clearing:\n%s", out);
  free(out);
  /* NO_COLOR, TERM=dumb: not one escape code; --no-progress: no progress */
  out = run_tty("xterm", "1", "--connect-to", cw_connect_to, "test-enable", "--config", cw_org_path,
                "--mailbox", "erin@contoso.com", NULL);
  ck_assert_msg(strchr(out, '\033') == NULL, "escape codes with NO_COLOR:\n%s", out);
  ck_assert_ptr_nonnull(strstr(out, "Failure"));
  free(out);
  out = run_tty("dumb", NULL, "--connect-to", cw_connect_to, "test-enable", "--config", cw_org_path,
                "--mailbox", "erin@contoso.com", NULL);
  ck_assert_msg(strchr(out, '\033') == NULL, "escape codes with TERM=dumb:\n%s", out);
  free(out);
  {
    /* -o FILE on a terminal: the file gets no escape code */
    char report[160], *data;
    snprintf(report, sizeof(report), "%s/tty.txt", cw_dir);
    out = run_tty("xterm", NULL, "-o", report, "--connect-to", cw_connect_to, "test-enable",
                  "--config", cw_org_path, "--mailbox", "erin@contoso.com", NULL);
    free(out);
    data = tu_read_file(report, NULL);
    ck_assert_ptr_nonnull(strstr(data, "Failure"));
    ck_assert_msg(strchr(data, '\033') == NULL, "escape codes in the -o file:\n%s", data);
    free(data);
  }
  out = run_tty("xterm", NULL, "--no-progress", "--connect-to", cw_connect_to, "test-enable",
                "--config", cw_org_path, "--mailbox", "erin@contoso.com", NULL);
  ck_assert_msg(strstr(out, "test-enable [") == NULL, "progress despite --no-progress:\n%s", out);
  free(out);
}
END_TEST

START_TEST(demo_junit_validates_for_jenkins)
{
  char *out;

  ck_assert_int_eq(cw_run(&out, "--format", "junit", "demo", NULL), 0);
  assert_valid_junit(cw_last_stdout, strlen(cw_last_stdout));
  ck_assert_ptr_nonnull(
      strstr(cw_last_stdout, "<testsuites name=\"exsync test-enable\" tests=\"33\""));
  ck_assert_ptr_nonnull(strstr(cw_last_stdout, "<testsuite name=\"dave@contoso.com\""));
  free(out);
}
END_TEST

/* Does hay contain needle in any of the encodings a leak could take? */
static const char *leak_of(const char *hay, size_t len, const char *secret, const char *user)
{
  static char forms[4][256];
  struct exs_buf b;
  char pair[200];
  size_t i, j;

  snprintf(forms[0], sizeof(forms[0]), "%s", secret);
  exs_buf_init(&b, 255);
  exs_base64_encode(&b, (const unsigned char *)secret, strlen(secret));
  snprintf(forms[1], sizeof(forms[1]), "%s", b.data ? b.data : "");
  exs_buf_reset(&b);
  snprintf(pair, sizeof(pair), "%s:%s", user, secret);
  exs_base64_encode(&b, (const unsigned char *)pair, strlen(pair));
  snprintf(forms[2], sizeof(forms[2]), "%s", b.data);
  exs_buf_free(&b);
  for(i = 0; secret[i] && i < 100; i++)
    snprintf(forms[3] + 2 * i, 3, "%02x", (unsigned char)secret[i]);
  for(j = 0; j < 4; j++)
    if(forms[j][0] && memmem(hay, len, forms[j], strlen(forms[j])))
      return forms[j];
  return NULL;
}

START_TEST(canary_password_never_leaks)
{
  static const char *const files[] = {"trace.txt", "exsync.db", "exsync.db-wal",
                                      "out.txt",   "err.txt",   "report.html"};
  char trace[160], path[200], html[160], *out, *data;
  size_t i, len;

  /* the canary is the profile's password: the emulator refuses it, so it
   * travels in every attempt, and is stored (sealed) by the import */
  setenv("EXSYNC_PROFILE_PASSWORD", CANARY, 1);
  snprintf(trace, sizeof(trace), "%s/trace.txt", cw_dir);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "import", cw_org_path, NULL), 0);
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--trace", trace, "--format", "json", "mailbox",
                          "test-enable", "alice@contoso.com", "--connect-to", cw_connect_to, NULL),
                   1);
  ck_assert_ptr_nonnull(strstr(out, "CREDENTIALS"));
  ck_assert_ptr_null(leak_of(out, strlen(out), CANARY, "CONTOSO\\svc-crm"));
  free(out);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "alerts", NULL), 0);
  ck_assert_ptr_null(leak_of(out, strlen(out), CANARY, "CONTOSO\\svc-crm"));
  free(out);
  /* the HTML report carries the trace excerpt: redacted too */
  snprintf(html, sizeof(html), "%s/report.html", cw_dir);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "--trace", "-", "--format", "html", "-o", html,
                          "mailbox", "test-enable", "alice@contoso.com", "--connect-to",
                          cw_connect_to, NULL),
                   1);
  free(out);
  data = tu_read_file(html, &len);
  ck_assert_ptr_nonnull(strstr(data, "Trace excerpts (redacted)"));
  ck_assert_ptr_nonnull(strstr(data, "Authorization: Basic &lt;redacted&gt;"));
  free(data);
  ck_assert_int_eq(cw_run(&out, "--db", cw_db_path, "profile", "show", "Exchange", NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "(set, encrypted)"));
  free(out);
  for(i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    const char *hit;
    snprintf(path, sizeof(path), "%s/%s", cw_dir, files[i]);
    if(access(path, R_OK))
      continue;
    data = tu_read_file(path, &len);
    hit = leak_of(data, len, CANARY, "CONTOSO\\svc-crm");
    ck_assert_msg(hit == NULL, "%s contains the canary as '%s'", files[i], hit);
    if(!strcmp(files[i], "trace.txt")) {
      ck_assert_ptr_nonnull(strstr(data, "Authorization: Basic <redacted>"));
      ck_assert_ptr_nonnull(strstr(data, "GetFolder"));
    }
    free(data);
  }
}
END_TEST

int main(void)
{
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("cli");

  tcase_add_checked_fixture(tc, cw_setup, cw_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, version_help_and_usage_errors);
  tcase_add_test(tc, bad_org_file_names_file_line_attribute);
  tcase_add_test(tc, store_less_test_enable_in_three_formats);
  tcase_add_test(tc, admin_steps_from_empty_store_to_report);
  tcase_add_test(tc, canary_password_never_leaks);
  tcase_add_test(tc, one_option_parser_for_every_command);
  tcase_add_test(tc, read_only_commands_never_create_a_store);
  tcase_add_test(tc, formats_for_every_list_and_show);
  tcase_add_test(tc, junit_report_for_ci);
  tcase_add_test(tc, html_reports);
  tcase_add_test(tc, demo_junit_validates_for_jenkins);
  tcase_add_test(tc, terminal_colour_and_progress);
  tcase_add_test(tc, proxy_named_in_errors_and_bypassed);
  tcase_add_test(tc, replay_in_every_format);
  tcase_add_test(tc, trace_to_stderr_with_separators_and_time);
  suite_add_tcase(s, tc);
  return tu_run(s);
}

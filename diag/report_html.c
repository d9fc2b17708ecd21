/* report_html.c - the HTML report (filled in below). */
#include "report.h"

void diag_report_write_html(FILE *f, const struct exs_te_result *results, size_t n,
                            long elapsed_ms)
{
  (void)f;
  (void)results;
  (void)n;
  (void)elapsed_ms;
}

void diag_report_write_html_error(FILE *f, const char *command, const char *message)
{
  (void)f;
  (void)command;
  (void)message;
}

void diag_ad_write_html(FILE *f, const char *address, const struct exs_autodiscover_result *r,
                        bool ok, const struct exs_error *err)
{
  (void)f;
  (void)address;
  (void)r;
  (void)ok;
  (void)err;
}

void diag_status_write_html(FILE *f, const struct exs_mailbox *m, size_t n)
{
  (void)f;
  (void)m;
  (void)n;
}

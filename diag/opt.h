/* opt.h - the one option parser of every exsync command: a table of long
 * options, "--opt=value" and "--opt value" alike, "--" ending the options,
 * -h/--help, and the same messages everywhere. */
#ifndef EXSYNC_DIAG_OPT_H
#define EXSYNC_DIAG_OPT_H

#include <stdbool.h>
#include <stddef.h>

/* What diag_opt_next returns besides an option's id (ids are > 0). */
enum { DIAG_OPT_END = 0, DIAG_OPT_ARG = -1, DIAG_OPT_ERR = -2, DIAG_OPT_HELP = -3 };

struct diag_opt {
  const char *name; /* "--config"; NULL ends a table */
  bool value;       /* takes a value */
  int id;           /* > 0, returned by diag_opt_next: a letter, as getopt's, or a number */
};

struct diag_optp {
  int argc;
  char **argv;
  int i;
  const char *cmd;                  /* "mailbox list", for messages and "exsync help CMD" */
  const struct diag_opt *tables[3]; /* searched in order */
  bool only_args;                   /* after "--" */
  bool stop_at_dashdash;            /* "--" ends the parse (record, replay): the command
                                       to run starts at argv[i] */
  bool saw_dashdash;
  const char *value; /* the value of the option, or the argument */
  const char *name;  /* the option's name as in the table */
};

/* Parse argv[first..argc-1] of command cmd with up to two option tables
 * (extra may be NULL). */
void diag_opt_init(struct diag_optp *p, const char *cmd, const struct diag_opt *opts,
                   const struct diag_opt *extra, int argc, char **argv, int first);
/* The next option's id, DIAG_OPT_ARG for an argument (in p->value),
 * DIAG_OPT_HELP for -h/--help, DIAG_OPT_END, or DIAG_OPT_ERR (printed:
 * "option --x needs a value", "unknown option"). */
int diag_opt_next(struct diag_optp *p);

/* The option of table opts that arg names ("--db" or "--db=..."), or NULL. */
const struct diag_opt *diag_opt_match(const struct diag_opt *opts, const char *arg);

/* p->value as a number in [min, max]; -1 with the error printed. */
int diag_opt_long(const struct diag_optp *p, long min, long max, long *out);

/* Print "CMD: unexpected argument 'A' (see exsync help CMD)"; returns 2. */
int diag_opt_unexpected(const struct diag_optp *p);

#endif

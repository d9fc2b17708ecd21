/* cli.c - global options and command dispatch. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int usage(FILE *f)
{
  fputs("usage: exsync [--db PATH] [--key-file PATH] [--format text|json|junit] [--trace FILE]\n"
        "              [--cacert FILE] [--resolve HOST:PORT:ADDR]... [--connect-to H:P:H2:P2]...\n"
        "              COMMAND ...\n", f);
  return f == stdout ? 0 : 2;
}

int diag_main(int argc, char **argv)
{
  if(argc < 2)
    return usage(stderr);
  if(!strcmp(argv[1], "--version")) {
    printf("exsync %s\n", EXSYNC_VERSION);
    return 0;
  }
  if(!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return usage(stdout);
  fprintf(stderr, "exsync: unknown command '%s' (see exsync --help)\n", argv[1]);
  return 2;
}

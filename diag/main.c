/* main.c - the exsync command. */
#include "cli.h"

int main(int argc, char **argv)
{
  return diag_main(argc, argv);
}

/* main.c - the exsync command. */
#include "exsync-diag/emu.h"

int main(int argc, char **argv)
{
  return diag_emu_main(argc, argv);
}

/* emu_main.c - the exsync command line with the commands that start the
 * emulator: they are passed down, so exsync_diag never links the emulator. */
#include "exsync-diag/emu.h"

#include <stdio.h>

#include <event2/event.h>

#include "cli.h"

int diag_emu_main(int argc, char **argv)
{
  static const struct diag_command cmds[] = {
      {"demo", diag_cmd_demo},
      {"replay", diag_cmd_replay},
  };

  static char versions[128];

  /* libevent serves the in-process emulator only */
  snprintf(versions, sizeof(versions), "libevent %s (emulator)\n", event_get_version());
  diag_set_extra_versions(versions);
  return diag_main_with(argc, argv, cmds, sizeof(cmds) / sizeof(cmds[0]));
}

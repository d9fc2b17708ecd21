/* emu.h - the whole exsync command line (exsync_diag_emu): diag_main plus
 * the commands that start the emulator in-process (demo, replay). This is
 * the only part of diag linked with the emulator. */
#ifndef EXSYNC_DIAG_EMU_H
#define EXSYNC_DIAG_EMU_H

/* As diag_main (exsync-diag/diag.h), with demo and replay. */
int diag_emu_main(int argc, char **argv);

#endif

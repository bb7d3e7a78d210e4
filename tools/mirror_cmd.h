/* mirror_cmd.h - `mapfile mirror`, kept apart from mapfile.c until the CLI
 * is split into one file per subcommand. */
#ifndef MAPFILE_MIRROR_CMD_H
#define MAPFILE_MIRROR_CMD_H

/* Run `mapfile mirror ARGS...` (argv after "mirror"); returns the exit
 * status. */
int mapfile_mirror_command(int argc, char **argv);

#endif

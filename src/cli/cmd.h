/* cmd — the `fairway <command>` entry points, one file each (cmd_*.c).
 *
 * Each gets argv with argv[0] being the command name and returns the exit
 * status: 0 success, 1 runtime failure, 2 usage or configuration error. */
#ifndef FAIRWAY_CMD_H
#define FAIRWAY_CMD_H

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

int cmd_keygen(int argc, char **argv);
int cmd_id(int argc, char **argv);
int cmd_portal(int argc, char **argv);
int cmd_call(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_stop(int argc, char **argv);   /* also `reload` */
int cmd_nat(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* cmd_room.c: the room's operator commands (roomadm.h) */
int cmd_member(int argc, char **argv);
int cmd_invite(int argc, char **argv);
int cmd_alias(int argc, char **argv);
int cmd_deny(int argc, char **argv);
int cmd_room(int argc, char **argv);

#endif

/* daemon — what a service manager gives and wants: readiness
 * notifications and socket activation (systemd's protocols, through
 * libsystemd). Outside systemd every call is a harmless no-op. */
#ifndef FAIRWAY_DAEMON_H
#define FAIRWAY_DAEMON_H

#include <stdbool.h>

/* sd_notify(3) with one state line: "READY=1", "RELOADING=1", "STOPPING=1",
 * "STATUS=…". RELOADING adds MONOTONIC_USEC as systemd asks. Does nothing
 * when NOTIFY_SOCKET is unset. */
void daemon_notify(const char *state);

/* A listening socket passed by socket activation (sd_listen_fds(3)) whose
 * FileDescriptorName= is name, or, for name "ssb", the only unnamed one.
 * Returns the fd (≥ 3) or -1 when there is none. The fd is the caller's;
 * LISTEN_* variables are left for later calls. */
int daemon_listen_fd(const char *name);

/* True when stderr is the journal (JOURNAL_STREAM matches stderr's
 * device and inode): log lines then carry <N> priorities, no timestamps. */
bool daemon_stderr_is_journal(void);

#endif

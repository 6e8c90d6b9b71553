/* daemon — sd_notify and sd_listen_fds for fairway's services. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"

void daemon_notify(const char *state)
{
	char line[128];

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	if (strcmp(state, "RELOADING=1") == 0) {
		struct timespec ts;

		/* systemd ≥ 253 wants the monotonic time with RELOADING=1. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		snprintf(line, sizeof(line), "RELOADING=1\nMONOTONIC_USEC=%llu",
		         (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
		state = line;
	}
	(void)sd_notify(0, state);
}

int daemon_listen_fd(const char *name)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(0, &names);
	int fd = -1;

	for (int i = 0; i < n; i++) {
		const char *nm = names != NULL ? names[i] : "unknown";
		bool unnamed = strcmp(nm, "unknown") == 0 || strcmp(nm, "stored") == 0 ||
		               strncmp(nm, "fairway-portal", 14) == 0;

		if (fd < 0 && (strcmp(nm, name) == 0 || (unnamed && strcmp(name, "ssb") == 0 && n == 1)) &&
		    sd_is_socket(SD_LISTEN_FDS_START + i, 0, SOCK_STREAM, 1) > 0)
			fd = SD_LISTEN_FDS_START + i;
	}
	if (names != NULL) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return fd;
}

bool daemon_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

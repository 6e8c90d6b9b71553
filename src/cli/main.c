/* fairway — one program, two planes: an SSB tunnel portal that shares its
 * link fairly, and Fair NAT for Linux routers. This file is the command
 * table; each command lives in its own cmd_*.c. */
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "cmd.h"
#include "log.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
	const char *summary;
};

static const struct command commands[] = {
	{ "keygen", cmd_keygen, "[--secret FILE]", "create an identity (ssb-keys secret file, mode 0600)" },
	{ "id", cmd_id, "[--secret FILE]", "print the identity's @…=.ed25519 id" },
	{ "portal", cmd_portal, "[-c POLICY] [--listen HOST:PORT] [--advertise HOST[:PORT]] [--secret FILE] [--caps B64] [--name NAME]\n"
	  "           [--privacy open|community|restricted] [--member ID]... [--deny ID]...\n"
	  "           [--max-conns-per-ip N] [--max-pending-handshakes N] [--pending-per-ip N]\n"
	  "           [--max-tunnels-per-peer N] [--idle-timeout MS] [--handshake-timeout MS] [--allow-multihop] [--via NETADDR]\n"
	  "           [--metrics-max-users N] [--metrics HOST:PORT] [--db FILE] [--http HOST:PORT]\n"
	  "           [--public-url URL] [--trust-proxy ADDR[,ADDR]...] [--ws-origin ORIGIN[,ORIGIN]...]",
	  "run a portal (room); prints its net:…~shs:… address first (then, with --http, its ws:// address and http:// URL)" },
	{ "host", cmd_host, "--portal ADDR [--expose NAME=HOST:PORT]... [--secret FILE] [--caps B64]",
	  "be reachable through a portal; prints its tunnel:…~shs:… address once announced" },
	{ "connect", cmd_connect, "ADDR [--portal NETADDR] [-L [HOST:]PORT:SERVICE]... [--verbose] [--once]",
	  "reach a host through its portal; -L forwards a local port to a service it exposes;\n"
	  "           the -L ports stay open when the host or portal goes away: the next local\n"
	  "           connection re-opens the tunnel (backoff while the portal is away);\n"
	  "           --once: exit when the tunnel ends instead (for scripts);\n"
	  "           --verbose prints the portal's fairway.share of its link when it changes" },
	{ "ping", cmd_ping, "ADDR [--portal NETADDR] [-c COUNT] [-i MS]",
	  "round trips (tunnel.ping) to a host, with min/median/p99 like ping(8)" },
	{ "info", cmd_info, "[--json | --prometheus | --dot] [--ctl PATH | --secret FILE]",
	  "a running portal's connections, tunnels and refusals (control socket);\n"
	  "           --prometheus: metrics in Prometheus text format, --dot: the class tree for Graphviz" },
	{ "stop", cmd_stop, "[--ctl PATH | --secret FILE]", "stop a running portal" },
	{ "reload", cmd_stop, "[--ctl PATH | --secret FILE]", "re-read a running portal's policy file" },
	{ "nat", cmd_nat, "start|stop|info [--dry-run] [--prometheus|--dot|--json] [--backend nft|iptables] [--leaf fq_codel|cake|sfq|pfifo] [FILE]",
	  "the router plane: Fair NAT rebuilt (reads fairnat.config as it is)" },
	{ "check", cmd_check, "[-c] FILE",
	  "validate a policy (both planes) and print the rates it gives; touches nothing" },
	{ "member", cmd_member, "add|rm|role|list [ID] [--role member|moderator|admin] [--json] [--db FILE] [--ctl PATH]",
	  "room members and their roles (the running portal, else the database)" },
	{ "invite", cmd_invite, "create|list|revoke [N] [--ttl DURATION] [--all] [--public-url URL] [--json] [--db FILE]",
	  "invites; create prints the link PUBLIC_URL/join?token=… first" },
	{ "alias", cmd_alias, "list|rm [NAME] [--json] [--db FILE] [--ctl PATH]", "the room's aliases" },
	{ "deny", cmd_deny, "add|rm|list [ID] [--comment TEXT] [--json] [--db FILE] [--ctl PATH]",
	  "denied keys: refused at the handshake, disconnected at once" },
	{ "room", cmd_room, "set privacy|name|description VALUE | show | import PATH [--room-id ID] [--json] [--db FILE]",
	  "the room's privacy mode, name and description; import a go-ssb-room roomdb" },
	{ "call", cmd_call, "ADDR METHOD [ARGS_JSON] [--source|--duplex] [--portal NETADDR] [--secret FILE] [--caps B64]",
	  "call a muxrpc method on a peer and print the result (JSON lines)" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: fairway <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n           %s\n", commands[i].name, commands[i].args,
		        commands[i].summary);
	fprintf(f, "  help [COMMAND] | --version\n\n"
	           "Options: --secret FILE (default $FAIRWAY_HOME/secret, FAIRWAY_HOME=~/.fairway),\n"
	           "--caps B64 (network key; default: the main SSB network's).\n"
	           "Logs go to stderr (FAIRWAY_LOG=error|warn|info|debug; --log-format text|json).\n"
	           "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n");
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *cmd;

	if (log_init() != 0)
		return EXIT_USAGE;
	/* --log-format text|json, anywhere on the line, for every command. */
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		int take = 0;

		if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc)
			v = argv[i + 1], take = 2;
		else if (strncmp(argv[i], "--log-format=", 13) == 0)
			v = argv[i] + 13, take = 1;
		else if (strcmp(argv[i], "--log-format") == 0) {
			fprintf(stderr, "fairway: --log-format needs text or json\n");
			return EXIT_USAGE;
		}
		if (take == 0)
			continue;
		if (log_set_format(v) != 0) {
			fprintf(stderr, "fairway: --log-format: '%s' is not text or json\n", v);
			return EXIT_USAGE;
		}
		memmove(&argv[i], &argv[i + take], (size_t)(argc - i - take + 1) * sizeof(*argv));
		argc -= take;
		i--;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("fairway %s\n", FAIRWAY_VERSION);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		if (argc > 2 && (cmd = find(argv[2])) == NULL) {
			fprintf(stderr, "fairway help: unknown command '%s'\n\n", argv[2]);
			usage(stderr);
			return EXIT_USAGE;
		}
		if (argc > 2) {
			printf("usage: fairway %s %s\n  %s\n  (every option: man fairway)\n",
			       cmd->name, cmd->args, cmd->summary);
			return EXIT_OK;
		}
		usage(stdout);
		return EXIT_OK;
	}
	cmd = find(argv[1]);
	if (cmd == NULL) {
		fprintf(stderr, "fairway: unknown command '%s'\n\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	log_set_component(cmd->name);
	/* `fairway CMD -h|--help`: the command's usage, exit 0 (nat and
	 * check print their own, longer one). */
	if (argc > 2 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
		if (strcmp(cmd->name, "nat") == 0) {
			argv[2] = (char *)"help";
		} else if (strcmp(cmd->name, "check") != 0) {
			printf("usage: fairway %s %s\n  %s\n  (every option: man fairway)\n",
			       cmd->name, cmd->args, cmd->summary);
			return EXIT_OK;
		}
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "fairway: libsodium failed to initialise\n");
		return EXIT_RUNTIME;
	}
	return cmd->fn(argc - 1, argv + 1);
}

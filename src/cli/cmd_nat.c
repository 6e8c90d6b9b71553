/* cmd_nat — `fairway nat start|stop|info|version|help`: Fair NAT's
 * command line on fairway's router plane.
 *
 * Exit: 0 ok, 1 runtime failure (a tool refused, rolled back), 2 usage or
 * configuration error (nothing was touched). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>
#include <jansson.h>

#include "cmd.h"
#include "log.h"
#include "nat.h"
#include "policy.h"
#include "util.h"

#ifndef FAIRWAY_VERSION
#define FAIRWAY_VERSION "0"
#endif

#define DEFAULT_POLICY  "/etc/fairway/policy.ini"
/* What `nat start` started: `nat stop` and `nat info` without FILE use it. */
#define NAT_RECORD      "/run/fairway/nat.started"
#define DEFAULT_FAIRNAT "/etc/ppp/fairnat.config"

static const char usage[] =
	"usage: fairway nat start|stop|info [options] [FILE]\n"
	"       fairway nat [options] FILE     (= start FILE, as fairnat.sh CONFIG)\n"
	"       fairway nat version | help\n"
	"\n"
	"FILE is a fairway policy ([nat] and [user NAME] sections) or a Fair NAT 0.80\n"
	"fairnat.config, read as it is (never executed). Default: " DEFAULT_POLICY ",\n"
	"else " DEFAULT_FAIRNAT ".\n"
	"\n"
	"  start      load the firewall rules (one transaction) and the tc trees;\n"
	"             running it twice is the same as once\n"
	"  stop       remove exactly what start added (own table/chains, own root qdiscs)\n"
	"  info       inputs, computed per-user rates and live counters\n"
	"             --prometheus: the counters as Prometheus text (node-exporter textfile)\n"
	"             --dot: both class trees as Graphviz DOT (rates over half a second)\n"
	"             --json: the same as JSON (rates in bit/s, counters in bytes and packets)\n"
	"  stop and info without FILE use what the last start recorded in " NAT_RECORD "\n"
	"\n"
	"  --dry-run            print what would be loaded; touch nothing\n"
	"  --backend nft|iptables   firewall (default nft; iptables for kernels without nftables)\n"
	"  --leaf fq_codel|cake|sfq|pfifo   queue under each class (sfq = Fair NAT's PRIO+SFQ)\n"
	"  --lan-net ADDR/PREFIX   the router's LAN address, instead of asking the kernel\n"
	"  --lan-net6 ADDR6/LEN[,…]  the router's LAN IPv6 address(es), likewise (dual stack)\n"
	"  --mtu N              HTB quantum, instead of DEV_NET's MTU\n"
	"  --iptables CMD       iptables flavour, e.g. iptables-legacy (uses CMD-restore/-save)\n"
	"  --reset              honour Fair NAT's RESET: flush the WHOLE firewall first\n"
	"  -c FILE              the policy file (same as FILE)\n";

struct opts {
	const char *verb;
	const char *file;
	bool dry_run, reset, prometheus, dot, json;
	const char *backend, *leaf, *lan_net, *lan_net6, *mtu, *iptables;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;

		if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-n") == 0) {
			o->dry_run = true;
			continue;
		}
		if (strcmp(a, "--reset") == 0) {
			o->reset = true;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(a, "--prometheus") == 0 || strcmp(a, "--dot") == 0) {
			if (o->prometheus || o->dot) {
				fprintf(stderr, "fairway nat: --prometheus and --dot exclude each other\n");
				return -1;
			}
			*(a[2] == 'p' ? &o->prometheus : &o->dot) = true;
			continue;
		}
		if (strcmp(a, "--backend") == 0)
			dst = &o->backend;
		else if (strcmp(a, "--leaf") == 0)
			dst = &o->leaf;
		else if (strcmp(a, "--lan-net") == 0)
			dst = &o->lan_net;
		else if (strcmp(a, "--lan-net6") == 0)
			dst = &o->lan_net6;
		else if (strcmp(a, "--mtu") == 0)
			dst = &o->mtu;
		else if (strcmp(a, "--iptables") == 0)
			dst = &o->iptables;
		else if (strcmp(a, "-c") == 0)
			dst = &o->file;
		if (dst) {
			if (i + 1 >= argc) {
				fprintf(stderr, "fairway nat: %s needs a value\n", a);
				return -1;
			}
			*dst = argv[++i];
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "fairway nat: unknown option %s (see fairway nat help)\n", a);
			return -1;
		}
		if (o->verb == NULL) {
			o->verb = a;
		} else if (o->file == NULL) {
			o->file = a;
		} else {
			fprintf(stderr, "fairway nat: unexpected argument %s\n", a);
			return -1;
		}
	}
	return 0;
}

/* nat info --prometheus | --dot: the live tc counters for programs. */
static int info_export(const struct policy *p, const struct policy_rates *r, bool prometheus)
{
	size_t n = 2 * (NAT_SLOT_USER0 + r->n);
	struct nat_class_stat *a = calloc(n, sizeof(*a)), *z = calloc(n, sizeof(*z));
	struct prom_buf pb;
	struct dot_buf db;
	int rc, ret = EXIT_OK;

	prom_buf_init(&pb);
	dot_buf_init(&db);
	if (a == NULL || z == NULL) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	rc = nat_read_stats(p, r, a);
	if (rc != 0)
		fprintf(stderr, "fairway nat: no classes on %s or %s (not started, or the device is gone)\n",
		        p->nat.dev_net, p->nat.dev_lan);
	if (prometheus) {
		/* written even then: fairway_nat_up 0 says so to a textfile collector */
		if (nat_render_prometheus(p, r, a, &pb) != 0) {
			ret = EXIT_RUNTIME;
			goto out;
		}
		fputs(pb.p ? pb.p : "", stdout);
	} else if (rc == 0) {
		struct timespec half = { 0, 500000000 };

		nanosleep(&half, NULL);
		if (nat_read_stats(p, r, z) != 0 || nat_render_dot(p, r, a, z, 0.5, &db) != 0) {
			ret = EXIT_RUNTIME;
			goto out;
		}
		fputs(db.p ? db.p : "", stdout);
	}
	if (rc != 0)
		ret = EXIT_RUNTIME;
out:
	prom_buf_free(&pb);
	dot_buf_free(&db);
	free(a);
	free(z);
	return ret;
}

/* Diagnostics not printed yet, as "file:line: level: message". */
static void print_diags(const struct policy *p, size_t *done)
{
	char line[POLICY_PATH_MAX + POLICY_MSG_MAX + 32];

	for (; *done < p->n_diags; (*done)++)
		fprintf(stderr, "%s\n", policy_diag_str(p, &p->diags[*done], line, sizeof(line)));
}

/* Command-line overrides of the file's [nat] settings. */
static int apply_overrides(struct policy *p, const struct opts *o)
{
	if (o->backend) {
		if (strcmp(o->backend, "nft") == 0)
			p->nat.backend = POLICY_BACKEND_NFT;
		else if (strcmp(o->backend, "iptables") == 0)
			p->nat.backend = POLICY_BACKEND_IPTABLES;
		else {
			fprintf(stderr, "fairway nat: --backend: expected nft or iptables, got %s\n", o->backend);
			return -1;
		}
	}
	if (o->leaf && policy_leaf_parse(o->leaf, &p->nat.leaf) != 0) {
		fprintf(stderr, "fairway nat: --leaf: expected fq_codel, cake, sfq or pfifo, got %s\n", o->leaf);
		return -1;
	}
	if (o->iptables) {
		if (strlen(o->iptables) >= sizeof(p->nat.iptables) || strpbrk(o->iptables, " \t;|&$`")) {
			fprintf(stderr, "fairway nat: --iptables: expected a command name\n");
			return -1;
		}
		snprintf(p->nat.iptables, sizeof(p->nat.iptables), "%s", o->iptables);
	}
	if (o->mtu) {
		char *end;
		unsigned long m = strtoul(o->mtu, &end, 10);

		if (*end || m < 68 || m > 65535) {
			fprintf(stderr, "fairway nat: --mtu: expected 68..65535, got %s\n", o->mtu);
			return -1;
		}
		p->nat.mtu = (unsigned)m;
	}
	if (o->lan_net) {
		unsigned a, b, c, d, pl;
		char tail;

		if (sscanf(o->lan_net, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &pl, &tail) != 5 ||
		    a > 255 || b > 255 || c > 255 || d > 255 || pl < 8 || pl > 30) {
			fprintf(stderr, "fairway nat: --lan-net: expected the router's LAN address like "
			        "192.168.1.1/24, got %s\n", o->lan_net);
			return -1;
		}
		p->nat.lan_ip = a << 24 | b << 16 | c << 8 | d;
		p->nat.lan_prefix = pl;
		p->nat.lan_set = true;
	}
	if (o->lan_net6) {
		char buf[1024], *save = NULL, *w;

		snprintf(buf, sizeof(buf), "%s", o->lan_net6);
		free(p->nat.lan6);   /* the command line replaces the file's */
		p->nat.lan6 = NULL;
		p->nat.n_lan6 = 0;
		for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save))
			if (policy_lan6_add(p, w, 0) != 0) {
				fprintf(stderr, "fairway nat: --lan-net6: expected the router's LAN IPv6 address "
				        "with its prefix length like 2001:db8:1::1/64, got %s\n", w);
				return -1;
			}
	}
	return 0;
}

static const char *default_file(void)
{
	FILE *f = fopen(DEFAULT_POLICY, "r");

	if (f) {
		fclose(f);
		return DEFAULT_POLICY;
	}
	return DEFAULT_FAIRNAT;
}

/* After a start: the file (absolute) and the options that shaped what was
 * applied, one a line, so stop and info can do without them. */
static void record_start(const struct opts *o, const struct policy *p)
{
	const char *names[] = { "--backend", "--leaf", "--lan-net", "--lan-net6", "--mtu", "--iptables" };
	const char *vals[] = { o->backend, o->leaf, o->lan_net, o->lan_net6, o->mtu, o->iptables };
	char abs[4096], when[32];
	FILE *f;

	if (realpath(o->file, abs) == NULL)
		snprintf(abs, sizeof(abs), "%s", o->file);
	(void)mkdir("/run/fairway", 0755);
	f = fopen(NAT_RECORD ".tmp", "w");
	if (f == NULL) {
		log_warn("cannot record the start in %s: %s (stop and info will need FILE)", NAT_RECORD,
		         strerror(errno));
		return;
	}
	fprintf(f, "# fairway nat start, %s: nat stop and nat info without FILE use this\n",
	        util_utc_str((int64_t)time(NULL), when, sizeof(when)));
	fprintf(f, "file %s\n", abs);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (vals[i] != NULL)
			fprintf(f, "arg %s\narg %s\n", names[i], vals[i]);
	if (o->reset)
		fprintf(f, "arg --reset\n");
	fprintf(f, "dev %s\ndev %s\n", p->nat.dev_net, p->nat.dev_lan);
	if (fclose(f) != 0 || rename(NAT_RECORD ".tmp", NAT_RECORD) != 0)
		log_warn("cannot record the start in %s: %s", NAT_RECORD, strerror(errno));
}

/* stop/info without FILE: the recorded file and options (then the command
 * line's, which win). Returns 0, 1 if there is no record, -1 on a bad one. */
static int use_record(int argc, char **argv, struct opts *o, char ***keep)
{
	FILE *f = fopen(NAT_RECORD, "r");
	char line[4200], **av;
	int n = 1;

	if (f == NULL)
		return 1;
	av = calloc((size_t)argc + 64, sizeof(*av));
	if (av == NULL) {
		fclose(f);
		return -1;
	}
	av[0] = argv[0];
	while (fgets(line, sizeof(line), f) != NULL && n < 60) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "arg ", 4) == 0)
			av[n++] = strdup(line + 4);
		else if (strncmp(line, "file ", 5) == 0 && o->file == NULL)
			o->file = strdup(line + 5);
	}
	fclose(f);
	for (int i = 1; i < argc; i++)
		av[n++] = argv[i];
	*keep = av;
	if (o->file == NULL) {
		fprintf(stderr, "fairway nat: %s names no file; give FILE\n", NAT_RECORD);
		return -1;
	}
	{
		const char *file = o->file;

		*o = (struct opts){ 0 };
		if (parse_args(n, av, o) != 0)
			return -1;
		o->file = file;
	}
	fprintf(stderr, "fairway nat: %s: %s, as recorded by nat start in %s\n", o->verb, o->file, NAT_RECORD);
	return 0;
}

/* nat info --json: inputs, per-user rates (bit/s) and live counters. */
static int info_json(const struct policy *p, const struct policy_rates *r)
{
	size_t nslot = NAT_SLOT_USER0 + r->n;
	struct nat_class_stat *st = calloc(2 * nslot, sizeof(*st));
	json_t *o = json_object(), *users = json_array();
	int rc;

	if (st == NULL || o == NULL || users == NULL) {
		free(st);
		json_decref(o);
		json_decref(users);
		return EXIT_RUNTIME;
	}
	rc = nat_read_stats(p, r, st);
	json_object_set_new(o, "file", json_string(p->file));
	json_object_set_new(o, "dev_net", json_string(p->nat.dev_net));
	json_object_set_new(o, "dev_lan", json_string(p->nat.dev_lan));
	json_object_set_new(o, "leaf", json_string(policy_leaf_name(p->nat.leaf)));
	json_object_set_new(o, "started", json_boolean(rc == 0));
	json_object_set_new(o, "line_up_bit", json_integer((json_int_t)(r->line_up * 8)));
	json_object_set_new(o, "line_down_bit", json_integer((json_int_t)(r->line_down * 8)));
	for (size_t i = 0; i < r->n && i < p->n_users; i++) {
		json_t *u = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "name", p->users[i].name,
		                      "class", (json_int_t)r->u[i].mark,
		                      "rate_up_bit", (json_int_t)(r->u[i].rate_up * 8),
		                      "ceil_up_bit", (json_int_t)(r->u[i].ceil_up * 8),
		                      "rate_down_bit", (json_int_t)(r->u[i].rate_down * 8),
		                      "ceil_down_bit", (json_int_t)(r->u[i].ceil_down * 8));

		for (int d = 0; d < 2 && u != NULL; d++) {
			const struct nat_class_stat *c = &st[d * nslot + NAT_SLOT_USER0 + i];

			json_object_set_new(u, d ? "down" : "up",
			                    json_pack("{s:I,s:I,s:I,s:I,s:I}", "bytes", (json_int_t)c->bytes,
			                              "packets", (json_int_t)c->packets, "drops", (json_int_t)c->drops,
			                              "backlog_bytes", (json_int_t)c->backlog_bytes,
			                              "backlog_packets", (json_int_t)c->backlog_pkts));
		}
		json_array_append_new(users, u);
	}
	json_object_set_new(o, "users", users);
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(o);
	free(st);
	return EXIT_OK;
}

int cmd_nat(int argc, char **argv)
{
	struct opts o = { 0 };
	struct policy p;
	struct policy_rates r = { 0 };
	struct nat_env env = { 0 };
	struct nat_buf sum = { 0 }, fw = { 0 }, tc = { 0 };
	bool apply, starting = false;
	char **recorded = NULL;
	size_t shown = 0;
	int rc, ret = EXIT_OK;

	if (parse_args(argc, argv, &o) != 0)
		return EXIT_USAGE;
	if (o.verb == NULL || strcmp(o.verb, "help") == 0 || strcmp(o.verb, "--help") == 0) {
		fputs(usage, o.verb ? stdout : stderr);
		return o.verb ? EXIT_OK : EXIT_USAGE;
	}
	if (strcmp(o.verb, "version") == 0) {
		printf("fairway nat %s (reads Fair NAT 0.80 fairnat.config)\n", FAIRWAY_VERSION);
		return EXIT_OK;
	}
	if (strcmp(o.verb, "start") != 0 && strcmp(o.verb, "stop") != 0 && strcmp(o.verb, "info") != 0) {
		/* Fair NAT's bare form: `fairnat.sh CONFIG` is `fairway nat CONFIG`.
		 * A word that is no command is a FILE when it names one (or a path). */
		if (o.file == NULL && (strchr(o.verb, '/') != NULL || access(o.verb, F_OK) == 0)) {
			o.file = o.verb;
			o.verb = "start";
		} else {
			fprintf(stderr, "fairway nat: unknown command \"%s\" (start, stop, info, version, "
			        "help; or a FILE to start)%s\n", o.verb, o.file ? "" : ", and no file of that name");
			return EXIT_USAGE;
		}
	}
	if (o.file == NULL && (strcmp(o.verb, "stop") == 0 || strcmp(o.verb, "info") == 0)) {
		rc = use_record(argc, argv, &o, &recorded);
		if (rc < 0) {
			ret = EXIT_USAGE;
			goto out_args;
		}
	}
	if (o.file == NULL)
		o.file = default_file();
	starting = strcmp(o.verb, "start") == 0;   /* info and stop never "apply" */
	rc = policy_load(&p, o.file);
	print_diags(&p, &shown);
	if (rc == -ENOMEM) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, "fairway nat: %s: %s%zu error%s%s; nothing was changed\n", o.file,
		        starting ? "not applied (" : "", p.n_errors, p.n_errors == 1 ? "" : "s",
		        starting ? ")" : "");
		ret = EXIT_USAGE;
		goto out;
	}
	if (!p.has_nat) {
		fprintf(stderr, "%s: no [nat] section: nothing for the router plane to do\n", o.file);
		ret = EXIT_USAGE;
		goto out;
	}
	if (apply_overrides(&p, &o) != 0) {
		ret = EXIT_USAGE;
		goto out;
	}
	if (strcmp(o.verb, "stop") == 0) {
		rc = nat_stop(&p, o.dry_run, stdout);
		ret = rc ? EXIT_RUNTIME : EXIT_OK;
		if (rc == 0 && !o.dry_run) {
			printf("stopped: %s (%s, %s)\n", o.file, p.nat.dev_net, p.nat.dev_lan);
			(void)unlink(NAT_RECORD);
		}
		goto out;
	}
	apply = strcmp(o.verb, "start") == 0 && !o.dry_run;
	env.reset = o.reset;
	if ((p.nat.features & POLICY_F_RESET) && !o.reset)
		log_info("%s: RESET is in FEATURES but fairway never flushes rules it did not write; "
		         "pass --reset to flush the whole firewall as Fair NAT did", o.file);
	/* the LAN network: the file / --lan-net, else the kernel */
	if (!p.nat.lan_set || apply) {
		uint32_t ip;
		unsigned pl;

		rc = nat_read_lan(p.nat.dev_lan, &ip, &pl);
		if (rc == -ENODEV) {
			fprintf(stderr, "%s: DEV_LAN %s: no such device on this machine%s\n", o.file,
			        p.nat.dev_lan, o.dry_run || !apply ? " (for a dry run elsewhere, pass "
			        "--lan-net ROUTER_ADDR/PREFIX)" : "");
			ret = EXIT_USAGE;
			goto out;
		}
		if (rc != 0) {
			fprintf(stderr, "%s: DEV_LAN %s has no IPv4 address: users are addressed inside its "
			        "subnet\n", o.file, p.nat.dev_lan);
			ret = EXIT_USAGE;
			goto out;
		}
		if (!p.nat.lan_set) {
			p.nat.lan_ip = ip;
			p.nat.lan_prefix = pl;
		}
	}
	if (policy_resolve_lan(&p, p.nat.lan_ip, p.nat.lan_prefix) != 0) {
		print_diags(&p, &shown);
		fprintf(stderr, "fairway nat: %s: %snothing was changed\n", o.file, starting ? "not applied; " : "");
		ret = EXIT_USAGE;
		goto out;
	}
	/* dual stack: the LAN's IPv6 prefixes (the file / --lan-net6, else the kernel) */
	if (policy_is_dual(&p)) {
		if (p.nat.n_lan6 == 0) {
			rc = nat_read_lan6(&p);
			if (rc != 0 && rc != -EADDRNOTAVAIL) {
				fprintf(stderr, "%s: DEV_LAN %s: cannot read its IPv6 addresses%s\n", o.file,
				        p.nat.dev_lan, apply ? "" : " (for a dry run elsewhere, pass --lan-net6 "
				        "ROUTER_ADDR6/LEN)");
				ret = rc == -ENOMEM ? EXIT_RUNTIME : EXIT_USAGE;
				goto out;
			}
		}
		if (policy_resolve_lan6(&p) != 0) {
			print_diags(&p, &shown);
			fprintf(stderr, "fairway nat: %s: %snothing was changed\n", o.file, starting ? "not applied; " : "");
			ret = EXIT_USAGE;
			goto out;
		}
	}
	/* MTU: every class's quantum, as in the original */
	env.mtu = p.nat.mtu;
	if (env.mtu == 0 || apply) {
		unsigned m;

		rc = nat_read_mtu(p.nat.dev_net, &m);
		if (rc == 0 && env.mtu == 0)
			env.mtu = m;
		if (rc != 0 && apply) {
			fprintf(stderr, "%s: DEV_NET %s: no such device\n", o.file, p.nat.dev_net);
			ret = EXIT_USAGE;
			goto out;
		}
		if (env.mtu == 0)
			env.mtu = 1500;
	}
	if (policy_compute(&p, POLICY_PLANE_ROUTER, &r) != 0) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	if ((o.prometheus || o.dot) && (strcmp(o.verb, "info") != 0 || o.dry_run)) {
		fprintf(stderr, "fairway nat: --prometheus and --dot go with info (and not --dry-run)\n");
		ret = EXIT_USAGE;
		goto out;
	}
	if (o.prometheus || o.dot) {
		ret = info_export(&p, &r, o.prometheus);
		goto out;
	}
	if (o.json && strcmp(o.verb, "info") == 0) {
		ret = info_json(&p, &r);
		goto out;
	}
	nat_render_summary(&p, &r, &env, &sum);
	if (strcmp(o.verb, "info") == 0) {
		fputs(sum.s ? sum.s : "", stdout);
		if (!o.dry_run)
			nat_print_counters(&p, &r, stdout);
		goto out;
	}
	if (o.dry_run) {
		if (p.nat.backend == POLICY_BACKEND_NFT)
			nat_render_nft(&p, &r, &env, &fw);
		else
			nat_render_iptables(&p, &r, &env, &fw);
		nat_render_tc(&p, &r, &env, &tc);
		if (sum.err || fw.err || tc.err) {
			ret = EXIT_RUNTIME;
			goto out;
		}
		printf("%s", sum.s);
		printf("### %s\n%s", p.nat.backend == POLICY_BACKEND_NFT ? "nft -f -" :
		       (o.reset ? "iptables-restore" : "iptables-restore --noflush"), fw.s);
		if (p.nat.backend == POLICY_BACKEND_IPTABLES && policy_is_dual(&p)) {
			struct nat_buf fw6 = { 0 };

			nat_render_ip6tables(&p, &r, &env, &fw6);
			if (fw6.err) {
				nat_buf_free(&fw6);
				ret = EXIT_RUNTIME;
				goto out;
			}
			printf("### %s\n%s", o.reset ? "ip6tables-restore" : "ip6tables-restore --noflush", fw6.s);
			nat_buf_free(&fw6);
		}
		printf("### tc -batch -  (after \"tc qdisc del dev DEV root\" when a previous fairway "
		       "tree is there)\n%s", tc.s ? tc.s : "");
		if (p.nat.features & POLICY_F_PROC)
			printf("### PROC: echo 1 > /proc/sys/net/ipv4/ip_forward\n");
		if ((p.nat.features & POLICY_F_PROC) && policy_is_dual(&p))
			printf("### PROC: echo 1 > /proc/sys/net/ipv6/conf/all/forwarding "
			       "(accept_ra 1 -> 2 on %s, so the uplink keeps its router advertisements)\n",
			       p.nat.dev_net);
		goto out;
	}
	rc = nat_apply(&p, &r, &env);
	if (rc == -EEXIST || rc == -ENODEV || rc == -EOPNOTSUPP)
		ret = EXIT_USAGE;
	else if (rc != 0)
		ret = EXIT_RUNTIME;
	else {
		log_info("started: %zu users on %s%s (up) and %s (down)", p.n_users, p.nat.dev_net,
		         p.nat.n_more ? " and more uplinks" : "", p.nat.dev_lan);
		record_start(&o, &p);
	}
out:
	nat_buf_free(&sum);
	nat_buf_free(&fw);
	nat_buf_free(&tc);
	policy_rates_free(&r);
	policy_free(&p);
out_args:
	free(recorded);   /* its strdup'd args live as long as the process */
	return ret;
}

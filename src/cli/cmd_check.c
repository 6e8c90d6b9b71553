/* fairway check — validate a policy file for both planes and say what it
 * would do, touching nothing. For ExecStartPre= and for people editing a
 * policy by hand.
 *
 *   fairway check [-c] FILE
 *
 * Prints every diagnostic as "file:line: level: message", then the rates
 * each plane would use. Exit 0 when the file has no errors (warnings are
 * printed but allowed), 2 when it has errors or cannot be read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "policy.h"

static const char usage[] =
	"usage: fairway check [-c] FILE\n"
	"  Validates a policy (fairway's INI with [portal], [nat] and [user NAME]\n"
	"  sections, or a Fair NAT fairnat.config) and prints the rates each plane\n"
	"  would use. Nothing is started or changed. Exit 0: usable; 2: errors.\n"
	"examples:\n"
	"  fairway check -c /etc/fairway/portal.conf\n"
	"  fairway check /etc/ppp/fairnat.config\n";

static void print_plane(const struct policy *p, enum policy_plane plane)
{
	struct policy_rates r = { 0 };
	char a[64], b[64], c[64], d[64];

	if (policy_compute(p, plane, &r) != 0) {
		printf("  (out of memory computing rates)\n");
		return;
	}
	for (size_t i = 0; i < r.n_warn; i++) {
		char line[POLICY_MSG_MAX + POLICY_PATH_MAX + 32];

		printf("%s\n", policy_diag_str(p, &r.warn[i], line, sizeof(line)));
	}
	if (r.line_up != 0 || r.line_down != 0)
		printf("  link: up %s, down %s (after rate-sub-percent)\n",
		       r.line_up ? policy_rate_str(r.line_up, a, sizeof(a)) : "unpaced",
		       r.line_down ? policy_rate_str(r.line_down, b, sizeof(b)) : "unpaced");
	else
		printf("  link: unpaced (no rate-up/rate-down)\n");
	/* a direction without a line rate is not paced: its numbers are weights */
	for (size_t i = 0; i < r.n && i < p->n_users; i++) {
		char up[80] = "unpaced", down[80] = "unpaced";

		if (r.line_up != 0)
			snprintf(up, sizeof(up), "%s ceil %s", policy_rate_str(r.u[i].rate_up, a, sizeof(a)),
			         policy_rate_str(r.u[i].ceil_up, b, sizeof(b)));
		if (r.line_down != 0)
			snprintf(down, sizeof(down), "%s ceil %s", policy_rate_str(r.u[i].rate_down, c, sizeof(c)),
			         policy_rate_str(r.u[i].ceil_down, d, sizeof(d)));
		printf("  user %-16s up %s, down %s\n", p->users[i].name, up, down);
	}
	if (plane == POLICY_PLANE_PORTAL && p->portal.guest && r.line_up != 0)
		printf("  guests (peers in no user): up %s ceil %s\n",
		       policy_rate_str(r.guest_up, a, sizeof(a)),
		       policy_rate_str(r.guest_down ? r.guest_down : r.line_up, b, sizeof(b)));
	policy_rates_free(&r);
}

int cmd_check(int argc, char **argv)
{
	const char *file = NULL;
	struct policy p;
	char line[POLICY_MSG_MAX + POLICY_PATH_MAX + 32];
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "fairway check: -c needs a file\n%s", usage);
				return EXIT_USAGE;
			}
			file = argv[++i];
		} else if (argv[i][0] == '-' || file != NULL) {
			fprintf(stderr, "fairway check: unexpected argument '%s'\n%s", argv[i], usage);
			return EXIT_USAGE;
		} else {
			file = argv[i];
		}
	}
	if (file == NULL) {
		fprintf(stderr, "fairway check: which file? (fairway check -c FILE)\n%s", usage);
		return EXIT_USAGE;
	}
	rc = policy_load(&p, file);
	/* IPv6 entries against the LAN prefixes the file names (lan-net6) */
	if (rc == 0 && p.nat.n_lan6 > 0 && policy_resolve_lan6(&p) != 0)
		rc = -EINVAL;
	/* Past 20 errors the file is probably not a policy at all. */
	for (size_t i = 0, shown = 0; i < p.n_diags; i++) {
		if (p.diags[i].level == POLICY_ERROR && shown++ == 20) {
			fprintf(stderr, "… and %zu more errors\n", p.n_errors - 20);
			break;
		}
		fprintf(p.diags[i].level == POLICY_NOTE ? stdout : stderr, "%s\n",
		        policy_diag_str(&p, &p.diags[i], line, sizeof(line)));
	}
	if (rc != 0 || p.n_errors > 0) {
		fprintf(stderr, "fairway check: %s: %zu error%s; a portal or router would refuse it\n",
		        file, p.n_errors, p.n_errors == 1 ? "" : "s");
		policy_free(&p);
		return EXIT_USAGE;
	}
	printf("%s: %s, %zu user%s\n", file,
	       p.format == POLICY_FMT_FAIRNAT ? "Fair NAT fairnat.config" : "fairway policy",
	       p.n_users, p.n_users == 1 ? "" : "s");
	if (p.format == POLICY_FMT_FAIRWAY && (p.has_portal || !p.has_nat)) {
		printf("portal plane:%s%s, privacy %s\n", p.portal.listen[0] ? " listen " : "",
		       p.portal.listen, p.portal.privacy == POLICY_PRIVACY_RESTRICTED ? "restricted"
		       : p.portal.privacy == POLICY_PRIVACY_COMMUNITY ? "community" : "open");
		print_plane(&p, POLICY_PLANE_PORTAL);
	}
	if (p.format == POLICY_FMT_FAIRNAT || p.has_nat) {
		printf("router plane: lan %s, net %s\n", p.nat.dev_lan, p.nat.dev_net);
		print_plane(&p, POLICY_PLANE_ROUTER);
	}
	printf("ok: nothing was started or changed\n");
	policy_free(&p);
	return EXIT_OK;
}

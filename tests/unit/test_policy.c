/* Unit tests for policy: both readers, every error path with its line,
 * Fair NAT 0.80's arithmetic (fairnat.md §1) and its quirks Q1–Q6. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

#define CONFIG_DIR VECTOR_DIR "/../nat/configs"

/* An identity from protocol.md's examples (any 32 bytes do). */
#define ID_A "@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519"
#define ID_B "@7MG1hyfz8SsxlIgansud4LKM57IHIw2Okw/hvOdeJWw=.ed25519"

static int fn(struct policy *p, const char *text)
{
	policy_init(p, POLICY_FMT_FAIRNAT);
	return policy_parse_fairnat(p, text, strlen(text), "t.config");
}

static int ini(struct policy *p, const char *text)
{
	policy_init(p, POLICY_FMT_FAIRWAY);
	return policy_parse_ini(p, text, "t.ini");
}

/* A diagnostic of this level on this line whose text contains needle. */
static bool has_diag(const struct policy *p, enum policy_diag_level lvl, int line, const char *needle)
{
	for (size_t i = 0; i < p->n_diags; i++)
		if (p->diags[i].level == lvl && (line < 0 || p->diags[i].line == line) &&
		    strstr(p->diags[i].msg, needle))
			return true;
	return false;
}

static void dump(const struct policy *p)
{
	char buf[8192];

	policy_format_diags(p, POLICY_NOTE, buf, sizeof(buf));
	print_message("%s", buf);
}

#define EXPECT_ERR(p, line, needle) do { \
	if (!has_diag((p), POLICY_ERROR, (line), (needle))) { dump(p); fail_msg("no error at %d: %s", (line), (needle)); } \
} while (0)

/* ---- rates ---- */

static void test_rate_tc_units(void **st)
{
	uint64_t v;
	char err[160];
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "10mbit", 1250000 }, { "1.5mbit", 187500 }, { "100kbps", 100000 }, { "8bit", 1 },
		{ "1kibit", 128 }, { "1gbit", 125000000 }, { "128kbit", 16000 }, { "1500bps", 1500 },
		{ "2MBit", 250000 }, { "0.5kbit", 62 },
	};
	static const char *const bad[] = { "10", "10foo", "", "mbit", "0kbit", "1bit",
		"99999999999999999999mbit", "-5kbit", "1.5.2mbit" };

	(void)st;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(policy_parse_rate(ok[i].s, false, &v, err, sizeof(err)), 0);
		assert_int_equal(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(policy_parse_rate(bad[i], false, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_parse_rate("10", false, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs a unit"));
	assert_int_equal(policy_parse_rate("10foo", false, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown rate unit \"foo\""));
}

static void test_rate_fairnat_units(void **st)
{
	uint64_t v;
	char err[160];
	/* Q4: 1024-based, bare number = kbit */
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "128kbit", 16384 }, { "128", 16384 }, { "1mbit", 131072 }, { "768kbit", 98304 },
		{ "10kbps", 10240 }, { "1mbps", 1048576 }, { "100bps", 100 }, { "2mbit", 262144 },
		{ "5000", 640000 },
	};

	(void)st;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(policy_parse_rate(ok[i].s, true, &v, err, sizeof(err)), 0);
		assert_int_equal(v, ok[i].v);
	}
	assert_int_equal(policy_parse_rate("1.5mbit", true, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_parse_rate("1gbit", true, &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "kbit mbit kbps mbps bps"));
}

/* ---- the shipped example (fairnat.md §1) ---- */

static void test_example_config(void **st)
{
	struct policy p;
	struct policy_rates r;

	(void)st;
	assert_int_equal(policy_load(&p, CONFIG_DIR "/example.config"), 0);
	assert_int_equal(p.format, POLICY_FMT_FAIRNAT);
	assert_string_equal(p.nat.dev_lan, "eth1");
	assert_string_equal(p.nat.dev_net, "ppp0");
	assert_int_equal(p.link.rate_lan, 262144);
	assert_int_equal(p.link.rate_up, 16384);
	assert_int_equal(p.link.rate_down, 98304);
	assert_int_equal(p.nat.features, POLICY_F_PROC | POLICY_F_MODULES | POLICY_F_RESET |
	                 POLICY_F_NAT | POLICY_F_FORWARD | POLICY_F_QOS_DOWN | POLICY_F_QOS_UP |
	                 POLICY_F_TOS);
	assert_int_equal(p.n_users, 4);
	assert_int_equal(p.users[2].n_addrs, 3);
	assert_int_equal(p.users[2].addrs[1].ip, 23);
	assert_true(p.users[2].addrs[1].octet_only);
	assert_int_equal(p.users[3].ceil_down, 131072);   /* 183@1mbit|100kbit */
	assert_int_equal(p.users[3].ceil_up, 12800);
	assert_int_equal(p.n_fwds, 2);
	assert_int_equal(p.fwds[0].lo, 4000);
	assert_int_equal(p.fwds[0].hi, 6999);
	assert_int_equal(p.fwds[1].user, 3);
	assert_string_equal(p.nat.prefix, "FAIRNAT");
	assert_int_equal(p.nat.leaf, POLICY_LEAF_SFQ);
	assert_true(has_diag(&p, POLICY_NOTE, 0, "quirk Q4"));

	assert_int_equal(policy_compute(&p, POLICY_PLANE_ROUTER, &r), 0);
	/* the worked example: 15 564 B/s line, 3 696 per user, router 778 */
	assert_int_equal(r.line_up, 15564);
	assert_int_equal(r.user_up, 3696);
	assert_int_equal(r.local_up, 778);
	assert_int_equal(r.line_down, 93388);
	assert_int_equal(r.user_down, 23347);
	assert_int_equal(r.u[0].ceil_up, 15564);
	assert_int_equal(r.u[0].ceil_down, 93388);
	assert_int_equal(r.u[3].ceil_up, 12800);
	assert_int_equal(r.u[0].mark, 20);
	assert_int_equal(r.u[2].mark, 60);
	assert_int_equal(r.u[3].mark, 1830);
	assert_int_equal(r.users_up, 4 * 3696);
	/* Q6: download leaves the router LAN − users */
	assert_int_equal(r.local_down, 262144 - 4 * 23347);
	policy_rates_free(&r);
	policy_free(&p);
}

/* ---- quirks ---- */

static void test_q1_default_features(void **st)
{
	struct policy p;

	(void)st;
	assert_int_equal(fn(&p, "DEV_LAN=eth1\n"), 0);
	/* the default names IPT_NAT etc.: NAT, FORWARD, RESET, TOS stay off */
	assert_int_equal(p.nat.features, POLICY_F_PROC | POLICY_F_MODULES | POLICY_F_QOS_DOWN |
	                 POLICY_F_QOS_UP);
	assert_true(has_diag(&p, POLICY_NOTE, 0, "quirk Q1"));
	assert_int_equal(p.n_users, 3);        /* USERS="1 2 3" */
	assert_int_equal(p.link.rate_lan, 640000);   /* 5000 kbit */
	policy_free(&p);

	assert_int_equal(fn(&p, "FEATURES=\"IPT_NAT IPT_FORWARD QOS_UP\"\n"), 0);
	assert_int_equal(p.nat.features, POLICY_F_NAT | POLICY_F_FORWARD | POLICY_F_QOS_UP);
	assert_true(has_diag(&p, POLICY_NOTE, 1, "quirk Q1"));
	policy_free(&p);
}

static void test_q2_readme_spellings(void **st)
{
	struct policy p;

	(void)st;
	assert_int_equal(fn(&p, "USER_CEIL_UP=64kbit\nUSER_CEIL_DOWN=256\nMSS_CLAMP=\"--clamp-mss-to-pmtu\"\n"), 0);
	assert_int_equal(p.link.ceil_user_up, 8192);
	assert_int_equal(p.link.ceil_user_down, 32768);
	assert_int_equal(p.nat.mss_clamp, -1);
	assert_true(has_diag(&p, POLICY_NOTE, 1, "quirk Q2"));
	assert_true(has_diag(&p, POLICY_NOTE, 3, "MSS_CLAMPING"));
	policy_free(&p);
	assert_int_equal(fn(&p, "MSS_CLAMPING=\"--set-mss 128\"\n"), 0);
	assert_int_equal(p.nat.mss_clamp, 128);
	policy_free(&p);
}

static void test_q5_wonder_and_underfull(void **st)
{
	struct policy p;
	struct policy_rates r;

	(void)st;
	assert_int_equal(fn(&p, "CLASS_MODE=wonder\nCEIL_USER_UP=2kbit\nUSERS=\"2 3\"\n"), 0);
	assert_int_equal(p.nat.class_mode, POLICY_CLASS_WONDER);
	assert_true(has_diag(&p, POLICY_WARNING, 0, "quirk Q5"));
	assert_int_equal(policy_compute(&p, POLICY_PLANE_ROUTER, &r), 0);
	/* (95·15564)/(2·100) = 7392 > ceil 256: lowered, with a warning */
	assert_int_equal(r.user_up, 7392);
	assert_int_equal(r.u[0].rate_up, 256);
	assert_int_equal(r.u[0].ceil_up, 256);
	assert_true(r.n_warn >= 2);
	assert_non_null(strstr(r.warn[0].msg, "Underfull link"));
	policy_rates_free(&r);
	policy_free(&p);
}

static void test_borrow_off(void **st)
{
	struct policy p;
	struct policy_rates r;

	(void)st;
	assert_int_equal(fn(&p, "BORROW=0\nUSERS=\"2 3 4 17@|50\"\n"), 0);
	assert_false(p.link.borrow);
	assert_int_equal(p.users[3].ceil_up, 6400);        /* 17@|50: upload only */
	assert_int_equal(p.users[3].ceil_down, 0);
	assert_int_equal(policy_compute(&p, POLICY_PLANE_ROUTER, &r), 0);
	for (size_t i = 0; i < r.n; i++) {
		assert_int_equal(r.u[i].ceil_up, r.u[i].rate_up);
		assert_int_equal(r.u[i].ceil_down, r.u[i].rate_down);
	}
	policy_rates_free(&r);
	policy_free(&p);
}

static void test_ipp2p_fallback(void **st)
{
	struct policy p;

	(void)st;
	assert_int_equal(fn(&p, "IPP2P_ENABLE=1\nIPP2P_UDP=1\nIPP2P_DROP_ALL=1\n"), 0);
	assert_true(p.nat.ipp2p);
	assert_true(p.nat.p2p_bytes > 0);
	assert_true(has_diag(&p, POLICY_WARNING, 1, "no mainline kernel has the ipp2p"));
	assert_true(has_diag(&p, POLICY_WARNING, 3, "drops nothing"));
	policy_free(&p);
}

/* ---- bash syntax ---- */

static void test_fairnat_syntax(void **st)
{
	struct policy p;

	(void)st;
	assert_int_equal(fn(&p,
		"# comment\n"
		"  RATE_UP='256kbit'   # trailing comment\n"
		"USERS=\"2 \\\n"
		"  5 7:8\"\n"
		"export DEV_LAN=eth2; DEV_NET=\"wan0\"\n"
		"CEIL_USER_UP=$RATE_UP\n"
		"CEIL_USER_DOWN=${RATE_DOWN}\n"
		"PORTS=\"2 22 \\\n"
		"5 8000:8100\"\n"), 0);
	assert_int_equal(p.link.rate_up, 32768);
	assert_int_equal(p.n_users, 3);
	assert_int_equal(p.users[2].n_addrs, 2);
	assert_string_equal(p.nat.dev_lan, "eth2");
	assert_string_equal(p.nat.dev_net, "wan0");
	assert_int_equal(p.link.ceil_user_up, 32768);
	assert_int_equal(p.link.ceil_user_down, 98304);
	assert_int_equal(p.n_fwds, 2);
	assert_int_equal(p.fwds[1].line, 8);
	policy_free(&p);
}

/* Arrays grow by doubling (policy.c grow()): thousands of diagnostics and
 * hundreds of users all kept, in order, each where it belongs (the ASan
 * build checks every access against the real allocation size). */
static void test_many_items(void **st)
{
	enum { N = 5000 };
	struct policy p;
	size_t len = 0;
	char *text = malloc(N * 16 + 1);
	char users[1200] = "USERS=\"";

	(void)st;
	assert_non_null(text);
	for (int i = 0; i < N; i++)
		len += (size_t)sprintf(text + len, "RATE_UPP=%d\n", i);
	policy_init(&p, POLICY_FMT_FAIRNAT);
	assert_int_equal(policy_parse_fairnat(&p, text, len, "t.config"), -EINVAL);
	assert_int_equal(p.n_errors, N);
	assert_true(p.n_diags >= N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(p.diags[i].line, i + 1);
		assert_non_null(strstr(p.diags[i].msg, "unknown variable RATE_UPP"));
	}
	policy_free(&p);
	free(text);

	for (int i = 2; i <= 254; i++)
		sprintf(users + strlen(users), "%d ", i);
	strcat(users, "\"\n");
	assert_int_equal(fn(&p, users), 0);
	assert_int_equal(p.n_users, 253);
	for (size_t i = 0; i < p.n_users; i++) {
		assert_int_equal(p.users[i].n_addrs, 1);
		assert_int_equal(p.users[i].addrs[0].ip, i + 2);
	}
	policy_free(&p);
}

static void test_fairnat_errors(void **st)
{
	struct policy p;

	(void)st;
	assert_int_equal(fn(&p, "\n\nRATE_UPP=128\n"), -EINVAL);
	EXPECT_ERR(&p, 3, "unknown variable RATE_UPP");
	policy_free(&p);
	assert_int_equal(fn(&p, "RATE_UP = 128\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "without spaces around '='");
	policy_free(&p);
	assert_int_equal(fn(&p, "#\nDEV_LAN=$(ip route | grep x)\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "command substitution");
	policy_free(&p);
	assert_int_equal(fn(&p, "DEV_LAN=`echo eth0`\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "does not run shell code");
	policy_free(&p);
	assert_int_equal(fn(&p, "\nUSERS=\"2 3\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "unterminated");
	policy_free(&p);
	assert_int_equal(fn(&p, "USERS=\"2 300\"\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "\"300\" is not a last IP octet");
	policy_free(&p);
	assert_int_equal(fn(&p, "\nPORTS=\"2 80 3\"\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "has no port after it");
	policy_free(&p);
	assert_int_equal(fn(&p, "PORTS=\"2 80 3 70000\"\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "\"70000\" is not a port");
	policy_free(&p);
	assert_int_equal(fn(&p, "USERS=\"2 3\"\nPORTS=\"2 4000:6999\n3 5000\"\n"), -EINVAL);
	EXPECT_ERR(&p, 3, "overlaps 4000-6999 (line 2)");
	policy_free(&p);
	assert_int_equal(fn(&p, "CLASS_MODE=fancy\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "expected default or wonder");
	policy_free(&p);
	assert_int_equal(fn(&p, "x=1\nBORROW=2\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "unknown variable x");
	EXPECT_ERR(&p, 2, "BORROW: expected 0 or 1");
	policy_free(&p);
	assert_int_equal(fn(&p, "RATE_DOWN=5gbit\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "RATE_DOWN: unknown rate unit");
	policy_free(&p);
	assert_int_equal(fn(&p, "USERS=\"2 5 2\"\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "listed twice");
	policy_free(&p);
	assert_int_equal(fn(&p, "USERS=\"17@\"\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "after '@'");
	policy_free(&p);
	assert_int_equal(fn(&p, "USERS=\"2 :\"\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "\":\" names no IP");
	policy_free(&p);
	/* a token from an expanded variable is reported inside the assignment
	 * that expanded it, never past it (the fuzzer's find) */
	assert_int_equal(fn(&p, "USERS=\"2\n3\n4\"\nUSERS=\"$USERS x\"\n"), -EINVAL);
	EXPECT_ERR(&p, 4, "\"x\" is not a last IP octet");
	policy_free(&p);
	assert_int_equal(fn(&p, "DEV_LAN=eth0 eth1\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "unexpected text after the value");
	policy_free(&p);
	assert_int_equal(fn(&p, "if [ -x /bin/foo ]; then\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "expected VAR=\"value\"");
	policy_free(&p);
	assert_int_equal(fn(&p, "FEATURES=\"NAT FIREWALL\"\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "unknown feature \"FIREWALL\"");
	policy_free(&p);
	assert_int_equal(fn(&p, "RATE_LAN=512kbit\n"), -EINVAL);
	EXPECT_ERR(&p, 0, "LAN rate");
	policy_free(&p);
	assert_int_equal(fn(&p, "USERS=\"\"\n"), -EINVAL);
	EXPECT_ERR(&p, 0, "no users");
	policy_free(&p);
	assert_int_equal(fn(&p, "DEV_NET=eth0\n"), -EINVAL);
	EXPECT_ERR(&p, 0, "both eth0");
	policy_free(&p);
	assert_int_equal(fn(&p, "TTL_SET=300\nHTB_MPU=x\nMSS_CLAMPING=--foo\nFAIRNAT_PREFIX=a-b\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "TTL_SET");
	EXPECT_ERR(&p, 2, "HTB_MPU");
	EXPECT_ERR(&p, 3, "MSS_CLAMPING");
	EXPECT_ERR(&p, 4, "FAIRNAT_PREFIX");
	policy_free(&p);
}

/* ---- fairway INI ---- */

static const char good_ini[] =
	"; a router and a portal in one file\n"
	"[portal]\n"
	"listen = 0.0.0.0:8008\n"
	"privacy = open\n"
	"rate-up = 20mbit        ; the real uplink\n"
	"rate-down = 50mbit\n"
	"rate-sub-percent = 10\n"
	"rate-local-percent = 2%\n"
	"borrow = yes\n"
	"\n"
	"[nat]\n"
	"dev-lan = lan0\n"
	"dev-net = wan0\n"
	"rate-lan = 1gbit\n"
	"leaf = pfifo\n"
	"features = nat forward qos-up qos-down\n"
	"mss-clamp = pmtu\n"
	"# comment\n"
	"[user alice]\n"
	"id = " ID_A "\n"
	"addr = 10.0.0.11\n"
	"addr = 10.0.0.12\n"
	"ceil-up = 15mbit\n"
	"forward = 2222 tcp\n"
	"[user bob]\n"
	"id = " ID_B "\n"
	"addr = 13\n"
	"rate-up = 8mbit\n"
	"forward = 6000-6100 udp to 10.0.0.14\n";

static void test_ini_good(void **st)
{
	struct policy p;
	struct policy_rates r;

	(void)st;
	assert_int_equal(ini(&p, good_ini), 0);
	assert_true(p.has_portal && p.has_nat);
	assert_string_equal(p.portal.listen, "0.0.0.0:8008");
	assert_int_equal(p.portal.privacy, POLICY_PRIVACY_OPEN);
	assert_int_equal(p.link.rate_up, 2500000);
	assert_int_equal(p.link.sub_percent, 10);
	assert_int_equal(p.link.local_percent, 2);
	assert_int_equal(p.link.rate_lan, 125000000);
	assert_int_equal(p.nat.leaf, POLICY_LEAF_PFIFO);
	assert_int_equal(p.nat.mss_clamp, -1);
	assert_int_equal(p.nat.features, POLICY_F_NAT | POLICY_F_FORWARD | POLICY_F_QOS_UP | POLICY_F_QOS_DOWN);
	assert_int_equal(p.n_users, 2);
	assert_string_equal(p.users[0].name, "alice");
	assert_int_equal(p.users[0].n_addrs, 2);
	assert_int_equal(p.users[0].addrs[1].ip, 0x0a00000c);
	assert_int_equal(p.users[0].ceil_up, 1875000);
	assert_true(p.users[1].addrs[0].octet_only);
	assert_int_equal(p.n_fwds, 2);
	assert_int_equal(p.fwds[0].protos, POLICY_PROTO_TCP);
	assert_int_equal(p.fwds[1].protos, POLICY_PROTO_UDP);
	assert_int_equal(policy_user_by_id(&p, ID_B), 1);
	assert_int_equal(policy_user_by_id(&p, "@x"), -1);

	/* octet 13 joins the LAN; the forward without "to" goes to alice */
	assert_int_equal(policy_resolve_lan(&p, 0x0a000001, 24), 0);
	assert_int_equal(p.users[1].addrs[0].ip, 0x0a00000d);
	assert_int_equal(p.fwds[0].to.ip, 0x0a00000b);
	assert_int_equal(policy_user_by_addr(&p, 0x0a00000d), 1);

	/* bob's fixed 8mbit comes off the top; alice gets the rest */
	assert_int_equal(policy_compute(&p, POLICY_PLANE_ROUTER, &r), 0);
	assert_int_equal(r.line_up, 2250000);
	assert_int_equal(r.u[1].rate_up, 1000000);
	assert_int_equal(r.u[0].rate_up, (98 * 2250000 - 100000000) / 100);
	assert_int_equal(r.u[0].ceil_up, 1875000);
	assert_int_equal(r.u[0].mark, 110);
	policy_rates_free(&r);
	/* the portal plane counts the guest class as one more share */
	assert_int_equal(policy_compute(&p, POLICY_PLANE_PORTAL, &r), 0);
	assert_int_equal(r.guest_up, r.u[0].rate_up);
	assert_int_equal(r.guest_up, (98 * 2250000 - 100000000) / 200);
	policy_rates_free(&r);
	policy_free(&p);
}

static void test_ini_errors(void **st)
{
	struct policy p;
	char buf[512];

	(void)st;
	assert_int_equal(ini(&p, "[nat]\ndev-lan = a\ndev-lann = b\n"), -EINVAL);
	EXPECT_ERR(&p, 3, "unknown key \"dev-lann\" in [nat]");
	policy_format_diags(&p, POLICY_ERROR, buf, sizeof(buf));
	assert_non_null(strstr(buf, "t.ini:3: error: unknown key"));
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal]\nleaf = sfq\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "belongs in another section");
	policy_free(&p);
	assert_int_equal(ini(&p, "[router]\nx = 1\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "unknown section [router]");
	policy_free(&p);
	assert_int_equal(ini(&p, "rate-up = 1mbit\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "outside any section");
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal]\nrate-up = 1mbit\n[nat]\nrate-up = 2mbit\n"), -EINVAL);
	EXPECT_ERR(&p, 4, "already set at line 2");
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal]\nrate-up = 1mbbit\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "rate-up: unknown rate unit");
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal]\nrate-up = 100\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "needs a unit");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\nid = " ID_A "\n[user b]\nid = " ID_A "\n"), -EINVAL);
	EXPECT_ERR(&p, -1, "listed twice");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\nid = @abc.ed25519\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "expected an SSB identity");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\naddr = 10.0.0.5\n[user b]\naddr = 10.0.0.5\n"), -EINVAL);
	EXPECT_ERR(&p, 4, "10.0.0.5 is listed twice");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\naddr = 10.0.0.256\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "expected an IPv4 address");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\naddr = 5\nforward = 80\n[user b]\naddr = 6\nforward = 70-90 tcp\n"), -EINVAL);
	EXPECT_ERR(&p, 6, "overlaps 80-80 (line 3)");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\naddr = 5\nforward = 80 sctp\n"), -EINVAL);
	EXPECT_ERR(&p, 3, "expected PORT[-PORT]");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\naddr = 5\nrate-up = 1mbit\nrate-up = 2mbit\n"), -EINVAL);
	EXPECT_ERR(&p, 4, "already set for user a");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\naddr = 5\n[user a]\naddr = 6\n"), -EINVAL);
	EXPECT_ERR(&p, 3, "already declared at line 1");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a b]\naddr = 5\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "a user name is");
	policy_free(&p);
	assert_int_equal(ini(&p, "[user a]\nspeed = 5\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "unknown key \"speed\" in [user a]");
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal]\nrate-up = 1mbit\nrate-down = 1mbit\n[user a]\nid = " ID_A
	                     "\nrate-up = 2mbit\n"), -EINVAL);
	EXPECT_ERR(&p, 4, "upload rates add up to");
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal]\nborrow = maybe\nrate-sub-percent = 100\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "expected yes or no");
	EXPECT_ERR(&p, 3, "percentage 0..99");
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal\nlisten = x:1\n"), -EINVAL);
	EXPECT_ERR(&p, 1, "expected [section]");
	policy_free(&p);
	assert_int_equal(ini(&p, "[nat]\ndev-lan = a\ndev-net = b\nrate-up = 1mbit\n"), -EINVAL);
	EXPECT_ERR(&p, 0, "rate-down");
	EXPECT_ERR(&p, 0, "no users");
	policy_free(&p);
	{
		char big[600];

		snprintf(big, sizeof(big), "[portal]\nlisten = %0400d:1\n", 0);
		assert_int_equal(ini(&p, big), -EINVAL);
		EXPECT_ERR(&p, 2, "line too long");
		policy_free(&p);
	}
	assert_int_equal(ini(&p, "[portal]\npace = 500ms\n"), -EINVAL);
	EXPECT_ERR(&p, 2, "pace: expected a duration from 0 to 100ms");
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal]\npace = 4ms\n"), 0);
	assert_int_equal(p.portal.pace_ms, 4);
	policy_free(&p);
	assert_int_equal(ini(&p, "[portal]\nprivacy = open\n"), 0);
	assert_int_equal(p.portal.pace_ms, -1);
	policy_free(&p);
	/* a ceil below the rate is a warning, not an error */
	assert_int_equal(ini(&p, "[user a]\nid = " ID_A "\nrate-up = 2mbit\nceil-up = 1mbit\n"), 0);
	assert_true(has_diag(&p, POLICY_WARNING, 1, "ceil-up is below rate-up"));
	policy_free(&p);
}

static void test_resolve_lan(void **st)
{
	struct policy p;

	(void)st;
	assert_int_equal(fn(&p, "USERS=\"2 5\"\nPORTS=\"9 80\"\n"), 0);
	assert_true(has_diag(&p, POLICY_WARNING, 2, "in no user"));
	assert_int_equal(policy_resolve_lan(&p, 0xc0a80101, 24), 0);
	assert_int_equal(p.users[1].addrs[0].ip, 0xc0a80105);
	assert_int_equal(p.fwds[0].to.ip, 0xc0a80109);
	policy_free(&p);
	/* the router's own address as a user */
	assert_int_equal(fn(&p, "USERS=\"1 5\"\n"), 0);
	assert_int_equal(policy_resolve_lan(&p, 0xc0a80101, 24), -EINVAL);
	EXPECT_ERR(&p, 1, "router's own LAN address");
	policy_free(&p);
	/* full addresses outside the LAN */
	assert_int_equal(ini(&p, "[user a]\naddr = 10.1.0.5\n[user b]\n\naddr = 10.0.0.6\n"), 0);
	assert_int_equal(policy_resolve_lan(&p, 0x0a000001, 24), -EINVAL);
	EXPECT_ERR(&p, 2, "10.1.0.5 is outside the LAN 10.0.0.0/24");
	assert_false(has_diag(&p, POLICY_ERROR, 5, "outside"));
	policy_free(&p);
}

static void test_load_missing(void **st)
{
	struct policy p;

	(void)st;
	assert_int_equal(policy_load(&p, "/nonexistent/x.ini"), -ENOENT);
	EXPECT_ERR(&p, 0, "cannot open");
	policy_free(&p);
}

static void test_dual_stack(void **st)
{
	struct policy p;
	struct policy_net6 n = { 0 }, m = { 0 };
	struct policy_mac mac = { 0 };
	struct policy_rates r;
	char buf[64];

	(void)st;
	/* addresses and prefixes: host bits zero, a colon needed, lengths 1..128 */
	assert_true(policy_parse_net6("2001:db8:1:42::/64", &n));
	assert_int_equal(n.plen, 64);
	assert_string_equal(policy_net6_str(&n, buf, sizeof(buf)), "2001:db8:1:42::/64");
	assert_true(policy_parse_net6("2001:DB8::1", &m));
	assert_int_equal(m.plen, 128);
	assert_string_equal(policy_net6_str(&m, buf, sizeof(buf)), "2001:db8::1");
	assert_false(policy_parse_net6("2001:db8::1/64", &n));    /* host bits */
	assert_false(policy_parse_net6("2001:db8::/129", &n));
	assert_false(policy_parse_net6("2001:db8::/064", &n));
	assert_false(policy_parse_net6("2001:db8::/", &n));
	assert_false(policy_parse_net6("10.0.0.1", &n));
	assert_false(policy_parse_net6("2001:db8:::1", &n));
	/* overlap and inclusion */
	assert_true(policy_parse_net6("2001:db8:1:40::/62", &n));
	assert_true(policy_parse_net6("2001:db8:1:43::9", &m));
	assert_true(policy_net6_overlap(&n, &m) && policy_net6_overlap(&m, &n));
	assert_true(policy_net6_inside(&n, &m));
	assert_false(policy_net6_inside(&m, &n));
	assert_true(policy_parse_net6("2001:db8:1:44::/64", &m));
	assert_false(policy_net6_overlap(&n, &m));
	/* MACs: six pairs, one separator, no group or zero address */
	assert_true(policy_parse_mac("02:AB:cd:00:00:01", &mac));
	assert_string_equal(policy_mac_str(&mac, buf, sizeof(buf)), "02:ab:cd:00:00:01");
	assert_true(policy_parse_mac("02-ab-cd-00-00-01", &mac));
	assert_false(policy_parse_mac("02:ab-cd:00:00:01", &mac));
	assert_false(policy_parse_mac("02:ab:cd:00:00:1", &mac));
	assert_false(policy_parse_mac("01:00:5e:00:00:01", &mac));
	assert_false(policy_parse_mac("00:00:00:00:00:00", &mac));
	assert_false(policy_parse_mac("02:ab:cd:00:00:0g", &mac));
	/* an addr list with every kind, and a user with IPv6 only */
	assert_int_equal(ini(&p, "[nat]\ndev-lan = eth1\ndev-net = ppp0\nrate-lan = 100mbit\n"
	                 "rate-up = 10mbit\nrate-down = 50mbit\nlan-net6 = 2001:db8:1::1/56\n"
	                 "[user a]\naddr = 10.0.0.5, 2001:db8:1::5 2001:db8:1:42::/64,,6\n"
	                 "mac = 02:00:00:00:00:05\n[user b]\naddr = 2001:db8:1::7\n"), 0);
	assert_true(policy_is_dual(&p));
	assert_int_equal(p.users[0].n_addrs, 2);
	assert_int_equal(p.users[0].n_nets6, 2);
	assert_int_equal(p.users[0].n_macs, 1);
	assert_int_equal(p.nat.n_lan6, 1);
	assert_int_equal(policy_resolve_lan6(&p), 0);
	assert_int_equal(policy_compute(&p, POLICY_PLANE_ROUTER, &r), 0);
	assert_int_equal(r.u[0].mark, 50);
	assert_int_equal(r.u[1].mark, 10);   /* the first octet no user starts with */
	policy_rates_free(&r);
	policy_free(&p);
	/* outside every LAN prefix; the router's own address */
	assert_int_equal(ini(&p, "[nat]\nlan-net6 = 2001:db8:1::1/64\n[user a]\naddr = 2001:db8:2::5\n"
	                 "[user b]\naddr = 2001:db8:1::1\n"), -EINVAL);
	assert_int_equal(policy_resolve_lan6(&p), -EINVAL);
	EXPECT_ERR(&p, 4, "2001:db8:2::5 is outside every LAN IPv6 prefix (2001:db8:1::/64)");
	EXPECT_ERR(&p, 6, "2001:db8:1::1 is the router's own LAN address");
	policy_free(&p);
	/* the same MAC twice, overlapping prefixes, bad entries */
	assert_int_equal(ini(&p, "[user a]\nmac = 02:00:00:00:00:05\naddr = 2001:db8:1::/60\n"
	                 "[user b]\nmac = 02:00:00:00:00:05\naddr = 2001:db8:1:8::/64\n"
	                 "addr = fe80::1 ff02::1 2001:db8::1/64 zz\nmac = 02:00:00\n"), -EINVAL);
	EXPECT_ERR(&p, 5, "MAC 02:00:00:00:00:05 is listed twice");
	EXPECT_ERR(&p, 6, "2001:db8:1:8::/64 overlaps 2001:db8:1::/60");
	EXPECT_ERR(&p, 7, "link-local");
	EXPECT_ERR(&p, 7, "multicast");
	EXPECT_ERR(&p, 7, "is not an IPv6 prefix");
	EXPECT_ERR(&p, 7, "got \"zz\"");
	EXPECT_ERR(&p, 8, "mac: expected a host's MAC");
	policy_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_tc_units),
		cmocka_unit_test(test_rate_fairnat_units),
		cmocka_unit_test(test_example_config),
		cmocka_unit_test(test_q1_default_features),
		cmocka_unit_test(test_q2_readme_spellings),
		cmocka_unit_test(test_q5_wonder_and_underfull),
		cmocka_unit_test(test_borrow_off),
		cmocka_unit_test(test_ipp2p_fallback),
		cmocka_unit_test(test_fairnat_syntax),
		cmocka_unit_test(test_fairnat_errors),
		cmocka_unit_test(test_many_items),
		cmocka_unit_test(test_ini_good),
		cmocka_unit_test(test_ini_errors),
		cmocka_unit_test(test_resolve_lan),
		cmocka_unit_test(test_dual_stack),
		cmocka_unit_test(test_load_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

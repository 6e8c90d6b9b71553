/* Unit tests for nat's renderers: the nft / iptables-restore / tc -batch
 * text for Fair NAT configs, checked line by line against fairnat.md §2–3. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nat.h"
#include "policy.h"

#define CONFIG_DIR VECTOR_DIR "/../nat/configs"

struct out {
	struct policy p;
	struct policy_rates r;
	struct nat_env env;
	struct nat_buf nft, ipt, tc, sum;
};

/* Parse a fairnat.config text (or the file when text is NULL), resolve it
 * on 192.168.1.1/24, render everything. */
static struct out *render(const char *text, const char *file, enum policy_leaf leaf, bool reset)
{
	struct out *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	if (text) {
		policy_init(&o->p, POLICY_FMT_FAIRNAT);
		assert_int_equal(policy_parse_fairnat(&o->p, text, strlen(text), "t.config"), 0);
	} else {
		assert_int_equal(policy_load(&o->p, file), 0);
	}
	if ((int)leaf >= 0)
		o->p.nat.leaf = leaf;
	assert_int_equal(policy_resolve_lan(&o->p, 0xc0a80101, 24), 0);
	assert_int_equal(policy_compute(&o->p, POLICY_PLANE_ROUTER, &o->r), 0);
	o->env.mtu = 1500;
	o->env.reset = reset;
	assert_int_equal(nat_render_nft(&o->p, &o->r, &o->env, &o->nft), 0);
	assert_int_equal(nat_render_iptables(&o->p, &o->r, &o->env, &o->ipt), 0);
	assert_int_equal(nat_render_tc(&o->p, &o->r, &o->env, &o->tc), 0);
	assert_int_equal(nat_render_summary(&o->p, &o->r, &o->env, &o->sum), 0);
	return o;
}

static void done(struct out *o)
{
	nat_buf_free(&o->nft);
	nat_buf_free(&o->ipt);
	nat_buf_free(&o->tc);
	nat_buf_free(&o->sum);
	policy_rates_free(&o->r);
	policy_free(&o->p);
	free(o);
}

/* The text holds this exact line. */
static void has_line(const char *text, const char *line)
{
	const char *s = text;
	size_t n = strlen(line);

	while ((s = strstr(s, line)) != NULL) {
		if ((s == text || s[-1] == '\n' || s[-1] == '\t') && (s[n] == '\n' || s[n] == '\0'))
			return;
		s++;
	}
	fail_msg("missing line: %s\n--- in:\n%s", line, text);
}

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *s = text; (s = strstr(s, needle)) != NULL; s++)
		n++;
	return n;
}

static void test_example_sfq_tree(void **st)
{
	struct out *o = render(NULL, CONFIG_DIR "/example.config", -1, false);
	const char *tc = o->tc.s;

	(void)st;
	/* fairnat.md §3 on DEV_NET: 15 564 line, 778 router, 4 × 3 696 users */
	has_line(tc, "qdisc add dev ppp0 root handle 1: htb default 3");
	has_line(tc, "class add dev ppp0 parent 1: classid 1:2 htb rate 124512bit ceil 124512bit quantum 1500");
	has_line(tc, "class add dev ppp0 parent 1:2 classid 1:3 htb rate 6224bit ceil 124512bit quantum 1500 prio 5");
	has_line(tc, "class add dev ppp0 parent 1:2 classid 1:1 htb rate 118272bit ceil 124512bit quantum 1500");
	has_line(tc, "class add dev ppp0 parent 1:1 classid 1:20 htb rate 29568bit ceil 124512bit quantum 1500");
	has_line(tc, "class add dev ppp0 parent 1:1 classid 1:1830 htb rate 29568bit ceil 102400bit quantum 1500");
	/* PRIO + SFQ perturb 9/10/11 under each user, handles MARK+1.. */
	has_line(tc, "qdisc add dev ppp0 parent 1:60 handle 60: prio bands 3");
	has_line(tc, "qdisc add dev ppp0 parent 60:1 handle 61: sfq perturb 9 limit 16");
	has_line(tc, "qdisc add dev ppp0 parent 60:3 handle 63: sfq perturb 11 limit 16");
	has_line(tc, "filter add dev ppp0 parent 60: protocol ip prio 1 u32 match ip tos 0x10 0xfc flowid 60:1");
	/* DEV_LAN: RATE_LAN root, users capped at the download line (Q6) */
	has_line(tc, "class add dev eth1 parent 1: classid 1:2 htb rate 2097152bit ceil 2097152bit quantum 1500");
	has_line(tc, "class add dev eth1 parent 1:2 classid 1:3 htb rate 1350048bit ceil 2097152bit quantum 1500 prio 5");
	has_line(tc, "class add dev eth1 parent 1:2 classid 1:1 htb rate 747104bit ceil 747104bit quantum 1500");
	has_line(tc, "class add dev eth1 parent 1:1 classid 1:20 htb rate 186776bit ceil 747104bit quantum 1500");
	has_line(tc, "class add dev eth1 parent 1:1 classid 1:1830 htb rate 186776bit ceil 1048576bit quantum 1500");
	/* the firewall: one rule steers each user (PRIO picks the band) */
	has_line(o->nft.s, "table ip fairnat {");
	has_line(o->nft.s, "delete table ip fairnat");
	has_line(o->nft.s, "oifname \"ppp0\" ip saddr { 192.168.1.6, 192.168.1.23, 192.168.1.25 } "
	         "counter meta priority set 1:60 comment \"user6-23-25 up\"");
	has_line(o->nft.s, "oifname \"eth1\" ip daddr { 192.168.1.183 } counter meta priority set 1:1830 "
	         "comment \"user183 down\"");
	assert_int_equal(count(o->nft.s, "dscp map"), 0);
	has_line(o->nft.s, "iifname \"ppp0\" tcp dport 4000-6999 dnat to 192.168.1.2");
	has_line(o->nft.s, "iifname \"ppp0\" udp dport 2000-3999 dnat to 192.168.1.183");
	has_line(o->nft.s, "oifname \"ppp0\" ip saddr { 192.168.1.5 } masquerade");
	has_line(o->nft.s, "ip protocol icmp ip dscp set 0x04");
	has_line(o->nft.s, "ip dscp 0x00 tcp flags & (syn | rst | ack) == ack meta length <= 256 ip dscp set 0x04");
	/* RESET is in FEATURES but not requested: no flush */
	assert_null(strstr(o->nft.s, "flush ruleset"));
	assert_non_null(strstr(o->sum.s, "RESET ignored"));
	assert_non_null(strstr(o->sum.s, "quirk Q4"));
	/* never the qdisc handle as a priority (HTB's direct queue) */
	assert_null(strstr(o->nft.s, "priority set 1:0 "));
	done(o);
}

static void test_bands_pfifo(void **st)
{
	struct out *o = render(NULL, CONFIG_DIR "/example.config", POLICY_LEAF_PFIFO, false);
	const char *tc = o->tc.s;

	(void)st;
	/* 3696 = 1108 + 1478 + 1110: bands interactive/normal/bulk */
	has_line(tc, "class add dev ppp0 parent 1:20 classid 1:21 htb rate 8864bit ceil 124512bit quantum 1500 prio 0");
	has_line(tc, "class add dev ppp0 parent 1:20 classid 1:22 htb rate 11824bit ceil 124512bit quantum 1500 prio 1");
	has_line(tc, "class add dev ppp0 parent 1:20 classid 1:23 htb rate 8880bit ceil 124512bit quantum 1500 prio 2");
	has_line(tc, "qdisc add dev ppp0 parent 1:21 handle 21: pfifo limit 16");
	has_line(tc, "qdisc add dev ppp0 parent 1:3 handle 2: pfifo limit 16");
	assert_null(strstr(tc, "prio bands"));
	has_line(o->nft.s, "oifname \"ppp0\" ip saddr { 192.168.1.2 } counter meta priority set 1:22 comment \"user2 up\"");
	has_line(o->nft.s, "oifname \"ppp0\" ip saddr { 192.168.1.2 } meta priority set ip dscp map "
	         "{ 0x04 : 1:21, 0x02 : 1:23 }");
	/* iptables: CLASSIFY per address, DSCP-selected bands */
	has_line(o->ipt.s, "-A FAIRNAT_FORWARD -o ppp0 -s 192.168.1.23 -m comment --comment \"user6-23-25 up\" "
	         "-j CLASSIFY --set-class 1:62");
	has_line(o->ipt.s, "-A FAIRNAT_FORWARD -o eth1 -d 192.168.1.23 -m dscp --dscp 0x04 -j CLASSIFY --set-class 1:61");
	has_line(o->ipt.s, "-A FAIRNAT_PREROUTING -i ppp0 -p udp --dport 4000:6999 -j DNAT --to-destination 192.168.1.2");
	has_line(o->ipt.s, "-A FAIRNAT_POSTROUTING -o ppp0 -s 192.168.1.25 -j MASQUERADE");
	has_line(o->ipt.s, "-A PREROUTING -j FAIRNAT_PREROUTING");
	has_line(o->ipt.s, "-A FORWARD -j FAIRNAT_FORWARD");
	assert_int_equal(count(o->ipt.s, "COMMIT\n"), 2);
	done(o);
}

static void test_fq_codel_cake_leaves(void **st)
{
	struct out *o = render("USERS=\"2 3\"\nRATE_UP=10mbit\nRATE_DOWN=50mbit\nRATE_LAN=100mbit\n", NULL,
	                       POLICY_LEAF_FQ_CODEL, false);

	(void)st;
	/* fast classes keep CoDel's defaults; slow ones a longer target */
	has_line(o->tc.s, "qdisc add dev ppp0 parent 1:21 handle 21: fq_codel");
	done(o);
	o = render(NULL, CONFIG_DIR "/example.config", POLICY_LEAF_FQ_CODEL, false);
	has_line(o->tc.s, "qdisc add dev ppp0 parent 1:21 handle 21: fq_codel target 144564us interval 239564us");
	done(o);
	o = render("USERS=\"2\"\n", NULL, POLICY_LEAF_CAKE, false);
	has_line(o->tc.s, "qdisc add dev ppp0 parent 1:22 handle 22: cake unlimited besteffort flows");
	done(o);
}

static void test_wonder(void **st)
{
	struct out *o = render("CLASS_MODE=wonder\nUSERS=\"2 3\"\n", NULL, -1, false);

	(void)st;
	/* children at the ceil and 9/10 of it (Q5), burst 6k, sfq perturb 10 */
	has_line(o->tc.s, "class add dev ppp0 parent 1:20 classid 1:21 htb rate 124512bit ceil 124512bit burst 6k quantum 1500 prio 1");
	has_line(o->tc.s, "class add dev ppp0 parent 1:20 classid 1:22 htb rate 112056bit ceil 112056bit burst 6k quantum 1500 prio 2");
	has_line(o->tc.s, "qdisc add dev ppp0 parent 1:22 handle 22: sfq perturb 10 limit 16");
	has_line(o->nft.s, "oifname \"ppp0\" ip saddr { 192.168.1.3 } meta priority set ip dscp map { 0x04 : 1:31, 0x02 : 1:32 }");
	done(o);
}

static void test_borrow_ipp2p_hacks(void **st)
{
	struct out *o = render("FEATURES=\"NAT QOS_UP TOS\"\nBORROW=0\nIPP2P_ENABLE=1\nUSERS=\"2\"\n"
	                       "MSS_CLAMPING=\"--clamp-mss-to-pmtu\"\nTTL_SET=64\nHTB_MPU=106\nHTB_OVERHEAD=8\n"
	                       "PORTS=\"2 80\"\n", NULL, -1, true);

	(void)st;
	/* BORROW=0: ceil = rate; 1 user gets 95% of the line */
	has_line(o->tc.s, "class add dev ppp0 parent 1:1 classid 1:20 htb rate 118280bit ceil 118280bit quantum 1500 mpu 106 overhead 8");
	/* QOS_DOWN off: nothing on eth1 */
	assert_null(strstr(o->tc.s, "dev eth1"));
	assert_null(strstr(o->nft.s, "oifname \"eth1\""));
	/* P2P stand-in: conntrack bytes, fourth PRIO band */
	has_line(o->nft.s, "meta l4proto tcp ct bytes > 10000000 ip dscp set 0x08");
	has_line(o->tc.s, "qdisc add dev ppp0 parent 1:20 handle 20: prio bands 4");
	has_line(o->tc.s, "qdisc add dev ppp0 parent 20:4 handle 24: sfq perturb 12 limit 16");
	has_line(o->tc.s, "filter add dev ppp0 parent 20: protocol ip prio 3 u32 match ip tos 0x20 0xfc flowid 20:4");
	has_line(o->ipt.s, "-A FAIRNAT_PREROUTING -p tcp -m connbytes --connbytes 10000001: --connbytes-dir both "
	         "--connbytes-mode bytes -j DSCP --set-dscp 0x08");
	/* FORWARD feature off: no DNAT although PORTS is set */
	assert_null(strstr(o->nft.s, "dnat"));
	assert_null(strstr(o->ipt.s, "DNAT"));
	has_line(o->nft.s, "tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu");
	has_line(o->nft.s, "iifname \"eth0\" ip ttl set 64");
	has_line(o->ipt.s, "-A FAIRNAT_FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu");
	/* --reset: the whole ruleset goes, as Fair NAT's RESET did */
	has_line(o->nft.s, "flush ruleset");
	has_line(o->ipt.s, ":PREROUTING ACCEPT [0:0]");
	done(o);
}

static void test_iptables_jumps_once(void **st)
{
	struct out *o = render("USERS=\"2\"\n", NULL, POLICY_LEAF_PFIFO, false);
	struct nat_buf b = { 0 };

	(void)st;
	o->env.jumps_present = NAT_JUMP_MANGLE_PRE | NAT_JUMP_MANGLE_FWD | NAT_JUMP_NAT_PRE | NAT_JUMP_NAT_POST;
	assert_int_equal(nat_render_iptables(&o->p, &o->r, &o->env, &b), 0);
	assert_null(strstr(b.s, "-A PREROUTING"));
	assert_null(strstr(b.s, "-A FORWARD -j"));
	has_line(b.s, ":FAIRNAT_FORWARD - [0:0]");
	nat_buf_free(&b);
	done(o);
}

/* Every class id and qdisc handle in a tree is unique, per device. */
static void test_unique_ids(void **st)
{
	static const enum policy_leaf leaves[] = { POLICY_LEAF_SFQ, POLICY_LEAF_PFIFO };

	(void)st;
	for (size_t l = 0; l < 2; l++) {
		struct out *o = render("USERS=\"7 2 10 11 12 99 100 101 254 3:4:5\"\nIPP2P_ENABLE=1\n"
		                       "FEATURES=\"QOS_UP\"\n", NULL, leaves[l], false);
		char *copy = strdup(o->tc.s), *save = NULL, *line;
		char seen[512][16];
		size_t n = 0;

		for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			const char *k = strstr(line, "classid ");
			char id[16];

			if (!k)
				k = strstr(line, "handle ");
			if (!k || strstr(line, "filter"))
				continue;
			sscanf(strchr(k, ' ') + 1, "%15s", id);
			for (size_t i = 0; i < n; i++)
				if (strcmp(seen[i], id) == 0)
					fail_msg("duplicate id %s", id);
			assert_true(n < 512);
			snprintf(seen[n++], sizeof(seen[0]), "%s", id);
		}
		free(copy);
		done(o);
	}
}

static void test_fairway_ini_render(void **st)
{
	struct out *o = render(NULL, CONFIG_DIR "/office.ini", -1, false);

	(void)st;
	has_line(o->nft.s, "table ip fairway {");
	assert_non_null(strstr(o->sum.s, "fairway policy"));
	assert_null(strstr(o->sum.s, "quirk Q4"));
	done(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_sfq_tree),
		cmocka_unit_test(test_bands_pfifo),
		cmocka_unit_test(test_fq_codel_cake_leaves),
		cmocka_unit_test(test_wonder),
		cmocka_unit_test(test_borrow_ipp2p_hacks),
		cmocka_unit_test(test_iptables_jumps_once),
		cmocka_unit_test(test_unique_ids),
		cmocka_unit_test(test_fairway_ini_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* policy_fairnat — a Fair NAT 0.80 fairnat.config (bash VAR="value"
 * lines), read as text and never executed: assignments collected the way
 * bash would source them, then interpreted into the model. */
#include "policy.h"
#include "policy_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_P2P_BYTES 10000000u /* IPP2P fallback: demote after 10 MB */

/* ---- Fair NAT 0.80 fairnat.config reader ------------------------------- */

enum fvar {
	V_FEATURES, V_DEV_LAN, V_RATE_LAN, V_DEV_NET, V_RATE_UP, V_RATE_DOWN, V_SUB, V_LOCAL,
	V_USERS, V_PORTS, V_CLASS_MODE, V_BORROW, V_CEIL_UP, V_CEIL_DOWN, V_IPP2P_ENABLE,
	V_IPP2P_OPTIONS, V_IPP2P_UDP, V_IPP2P_DROP_ALL, V_IPP2P_DROP_MARKED, V_MSS, V_TTL,
	V_MPU, V_OVERHEAD, V_PREFIX, V_BIN_TC, V_BIN_IPT, V_BIN_IFC, V_BIN_GREP, V_BIN_SED,
	V_BIN_ECHO, V_BIN_MODPROBE, V_CONFIG, V__COUNT
};

static const struct {
	const char *name;
	const char *dflt;       /* Fair NAT 0.80 configure() default */
} fvars[V__COUNT] = {
	[V_FEATURES] = { "FEATURES", "PROC MODULES IPT_RESET IPT_NAT IPT_FORWARD QOS_DOWN QOS_UP" },
	[V_DEV_LAN] = { "DEV_LAN", "eth0" }, [V_RATE_LAN] = { "RATE_LAN", "5000" },
	[V_DEV_NET] = { "DEV_NET", "ppp0" }, [V_RATE_UP] = { "RATE_UP", "128" },
	[V_RATE_DOWN] = { "RATE_DOWN", "768" }, [V_SUB] = { "RATE_SUB_PERCENT", "5" },
	[V_LOCAL] = { "RATE_LOCAL_PERCENT", "5" }, [V_USERS] = { "USERS", "1 2 3" },
	[V_PORTS] = { "PORTS", "" }, [V_CLASS_MODE] = { "CLASS_MODE", "default" },
	[V_BORROW] = { "BORROW", "1" }, [V_CEIL_UP] = { "CEIL_USER_UP", "0" },
	[V_CEIL_DOWN] = { "CEIL_USER_DOWN", "0" }, [V_IPP2P_ENABLE] = { "IPP2P_ENABLE", "0" },
	[V_IPP2P_OPTIONS] = { "IPP2P_OPTIONS", "--ipp2p --apple --bit" },
	[V_IPP2P_UDP] = { "IPP2P_UDP", "0" }, [V_IPP2P_DROP_ALL] = { "IPP2P_DROP_ALL", "0" },
	[V_IPP2P_DROP_MARKED] = { "IPP2P_DROP_MARKED", "0" }, [V_MSS] = { "MSS_CLAMPING", "0" },
	[V_TTL] = { "TTL_SET", "0" }, [V_MPU] = { "HTB_MPU", "0" },
	[V_OVERHEAD] = { "HTB_OVERHEAD", "0" }, [V_PREFIX] = { "FAIRNAT_PREFIX", "FAIRNAT" },
	[V_BIN_TC] = { "BIN_TC", "tc" }, [V_BIN_IPT] = { "BIN_IPT", "iptables" },
	[V_BIN_IFC] = { "BIN_IFC", "ifconfig" }, [V_BIN_GREP] = { "BIN_GREP", "grep" },
	[V_BIN_SED] = { "BIN_SED", "sed" }, [V_BIN_ECHO] = { "BIN_ECHO", "echo" },
	[V_BIN_MODPROBE] = { "BIN_MODPROBE", "modprobe" },
	[V_CONFIG] = { "FAIRNAT_CONFIG", "/etc/ppp/fairnat.config" },
};

#define FVAL_MAX 4096

struct fctx {
	struct policy *p;
	char *val[V__COUNT];    /* current value (default, then assignments) */
	int line[V__COUNT];     /* 0 = script default */
	int last[V__COUNT];     /* line the assignment ends on */
	bool nomem;
};

static int fvar_find(const char *name)
{
	for (int i = 0; i < V__COUNT; i++)
		if (strcmp(fvars[i].name, name) == 0)
			return i;
	return -1;
}

struct sbuf {
	char *s;
	size_t len, cap;
	bool overflow;
};

static void sb_putc(struct sbuf *b, char ch)
{
	if (b->len + 1 >= b->cap) {
		b->overflow = true;
		return;
	}
	b->s[b->len++] = ch;
	b->s[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	for (; *s; s++)
		sb_putc(b, *s);
}

/* $NAME / ${NAME}: bash expands what configure() and earlier lines set. */
static const char *f_expand(struct fctx *c, const char **sp, const char *end, int line, bool *bad)
{
	const char *s = *sp + 1;   /* after '$' */
	char name[64];
	size_t n = 0;
	bool brace = false;
	int v;

	if (s < end && *s == '(') {
		perr(c->p, line, "command substitution $(...) is not supported: fairway reads "
		     "the config, it does not run it");
		*bad = true;
		return "";
	}
	if (s < end && *s == '{') {
		brace = true;
		s++;
	}
	while (s < end && (isalnum((unsigned char)*s) || *s == '_') && n < sizeof(name) - 1)
		name[n++] = *s++;
	name[n] = '\0';
	if (brace) {
		if (s >= end || *s != '}') {
			perr(c->p, line, "expected ${NAME}: only plain variable expansion is supported");
			*bad = true;
			return "";
		}
		s++;
	}
	*sp = s;
	if (n == 0)
		return "$";   /* a lone '$' is literal in bash */
	v = fvar_find(name);
	if (v < 0) {
		pwarn(c->p, line, "$%s is not a Fair NAT variable: it expands to nothing", name);
		return "";
	}
	return c->val[v] ? c->val[v] : "";
}

/* One word after NAME=: quotes, backslashes, line continuations and $VAR,
 * the way bash would see it. Advances *sp and *line. */
static bool f_word(struct fctx *c, const char **sp, const char *end, int *line, struct sbuf *out)
{
	const char *s = *sp;
	bool bad = false;
	int start_line = *line;

	while (s < end && !bad) {
		char ch = *s;

		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == ';' || ch == '#' || ch == '\r')
			break;
		if (ch == '\'') {
			for (s++; s < end && *s != '\''; s++) {
				if (*s == '\n')
					(*line)++;
				sb_putc(out, *s);
			}
			if (s >= end) {
				perr(c->p, start_line, "unterminated '...' string");
				*line = start_line;   /* the caller re-reads from the next line */
				return false;
			}
			s++;
		} else if (ch == '"') {
			for (s++; s < end && *s != '"' && !bad;) {
				if (*s == '\\' && s + 1 < end && strchr("\"\\$`\n", s[1])) {
					if (s[1] == '\n')
						(*line)++;   /* continuation: both vanish */
					else
						sb_putc(out, s[1]);
					s += 2;
				} else if (*s == '$') {
					sb_puts(out, f_expand(c, &s, end, *line, &bad));
				} else if (*s == '`') {
					perr(c->p, *line, "command substitution `...` is not supported: fairway "
					     "reads the config, it does not run it");
					bad = true;
				} else {
					if (*s == '\n')
						(*line)++;
					sb_putc(out, *s++);
				}
			}
			if (!bad && s >= end) {
				perr(c->p, start_line, "unterminated \"...\" string");
				*line = start_line;
				return false;
			}
			s++;
		} else if (ch == '\\') {
			if (s + 1 < end && s[1] == '\n') {
				(*line)++;
			} else if (s + 1 < end) {
				sb_putc(out, s[1]);
			}
			s += 2;
		} else if (ch == '$') {
			sb_puts(out, f_expand(c, &s, end, *line, &bad));
		} else if (ch == '`' || ch == '(' || ch == ')' || ch == '|' || ch == '&' ||
		           ch == '<' || ch == '>') {
			perr(c->p, *line, "unexpected '%c': fairway reads VAR=\"value\" assignments, "
			     "it does not run shell code", ch);
			*line = start_line;   /* the caller re-reads from the next line */
			return false;
		} else {
			sb_putc(out, ch);
			s++;
		}
	}
	if (bad) {
		*line = start_line;
		return false;
	}
	*sp = s;
	if (out->overflow) {
		perr(c->p, start_line, "value longer than %d characters", FVAL_MAX - 1);
		return false;
	}
	return !bad;
}

/* Pass 1: collect assignments; later ones win, as when bash sources it. */
static void f_scan(struct fctx *c, const char *text, size_t len)
{
	const char *s = text, *end = text + len;
	int line = 1;
	char *buf = malloc(FVAL_MAX);

	if (buf == NULL) {
		c->nomem = true;
		return;
	}
	while (s < end) {
		char name[64];
		size_t n = 0;
		int v, at;
		struct sbuf out = { .s = buf, .cap = FVAL_MAX };

		buf[0] = '\0';
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == ';'))
			s++;
		if (s >= end)
			break;
		if (*s == '\n') {
			line++;
			s++;
			continue;
		}
		if (*s == '#')
			goto skip_line;
		if (*s == '\\' && s + 1 < end && s[1] == '\n') {
			s += 2;
			line++;
			continue;
		}
		if (end - s > 7 && strncmp(s, "export", 6) == 0 && (s[6] == ' ' || s[6] == '\t'))
			for (s += 6; s < end && (*s == ' ' || *s == '\t'); s++)
				;
		at = line;
		while (s < end && (isalnum((unsigned char)*s) || *s == '_') && n < sizeof(name) - 1)
			name[n++] = *s++;
		name[n] = '\0';
		if (n == 0 || isdigit((unsigned char)name[0]) || s >= end || *s != '=') {
			if (n > 0 && s < end && (*s == ' ' || *s == '\t')) {
				const char *t = s;

				while (t < end && (*t == ' ' || *t == '\t'))
					t++;
				if (t < end && *t == '=') {
					perr(c->p, at, "expected %s=value without spaces around '=' (bash would "
					     "run \"%s\" as a command)", name, name);
					goto skip_line;
				}
			}
			{
				/* the text is not NUL-terminated: bound the quote by end */
				const char *q = s - n;
				int span = 0;

				while (q + span < end && q[span] != '\n' && span < 60)
					span++;
				perr(c->p, at, "expected VAR=\"value\" (a Fair NAT variable assignment) "
				     "or a # comment, got \"%.*s\"", span, q);
			}
			goto skip_line;
		}
		s++;   /* '=' */
		if (!f_word(c, &s, end, &line, &out))
			goto skip_line;
		/* after the value: blanks, then end of line, ';' or a comment */
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s < end && *s != '\n' && *s != '#' && *s != ';') {
			perr(c->p, line, "unexpected text after the value of %s (quote values with spaces)", name);
			goto skip_line;
		}
		v = fvar_find(name);
		if (v < 0) {
			/* the README's spellings (quirk Q2) */
			if (strcmp(name, "USER_CEIL_UP") == 0 || strcmp(name, "USER_CEIL_DOWN") == 0) {
				v = strcmp(name, "USER_CEIL_UP") == 0 ? V_CEIL_UP : V_CEIL_DOWN;
				pnote(c->p, at, "%s is the README's spelling (quirk Q2); Fair NAT 0.80's script "
				      "reads %s, fairway accepts both", name, fvars[v].name);
			} else if (strcmp(name, "MSS_CLAMP") == 0) {
				v = V_MSS;
				pnote(c->p, at, "MSS_CLAMP is the README's spelling (quirk Q2); Fair NAT 0.80's "
				      "script reads MSS_CLAMPING, fairway accepts both");
			} else {
				perr(c->p, at, "unknown variable %s (not a Fair NAT 0.80 setting; typo?)", name);
				goto skip_line;
			}
		}
		free(c->val[v]);
		c->val[v] = strdup(buf);
		if (c->val[v] == NULL)
			c->nomem = true;
		c->line[v] = at;
		c->last[v] = line;
		continue;
skip_line:
		while (s < end && *s != '\n')
			s++;
	}
	free(buf);
}

static void f_rate(struct fctx *c, int v, uint64_t *dst, bool zero_ok)
{
	char err[160];

	if (zero_ok && strcmp(c->val[v], "0") == 0) {
		*dst = 0;
		return;
	}
	if (policy_parse_rate(c->val[v], true, dst, err, sizeof(err)) != 0)
		perr(c->p, c->line[v], "%s: %s", fvars[v].name, err);
}

static bool f_uint(struct fctx *c, int v, uint64_t max, uint64_t *out)
{
	if (!policy_parse_uint(c->val[v], max, out)) {
		perr(c->p, c->line[v], "%s: expected a whole number 0..%llu, got \"%s\"", fvars[v].name,
		     (unsigned long long)max, c->val[v]);
		return false;
	}
	return true;
}

static bool f_flag(struct fctx *c, int v)
{
	uint64_t x = 0;

	if (strcmp(c->val[v], "0") != 0 && strcmp(c->val[v], "1") != 0) {
		perr(c->p, c->line[v], "%s: expected 0 or 1, got \"%s\"", fvars[v].name, c->val[v]);
		return false;
	}
	(void)policy_parse_uint(c->val[v], 1, &x);
	return x == 1;
}

static bool parse_octet(const char *s, uint32_t *o)
{
	uint64_t v;

	if (!policy_parse_uint(s, 254, &v) || v == 0 || (s[0] == '0'))
		return false;
	*o = (uint32_t)v;
	return true;
}

/* The line of a token inside variable v's (multi-line) value; the value
 * is the unsplit original (strtok_r overwrites the newlines). Newlines
 * that came from expanding another variable ("$USERS ...") are not this
 * assignment's lines, so the count stops at the assignment's last line. */
static int token_line(const struct fctx *c, int v, const char *tok)
{
	int line = c->line[v];

	for (const char *q = c->val[v]; q < tok && line < c->last[v]; q++)
		line += *q == '\n';
	return line;
}

/* USERS="2 5 6:23:25 183@1mbit|100kbit 17@|50" */
static void f_users(struct fctx *c)
{
	struct policy *p = c->p;
	char *save = NULL, *w, *buf = strdup(c->val[V_USERS]);

	if (buf == NULL) {
		c->nomem = true;
		return;
	}
	for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		char *at = strchr(w, '@'), *ips = w, *save2 = NULL, *ip;
		size_t n_ips = 0;
		struct policy_user *u;
		char name[POLICY_NAME_MAX];
		int line = token_line(c, V_USERS, c->val[V_USERS] + (w - buf));

		if (at)
			*at++ = '\0';
		snprintf(name, sizeof(name), "user%s", ips);
		for (char *q = name; *q; q++)
			if (*q == ':')
				*q = '-';
		u = policy_add_user(p, name, line);
		if (u == NULL) {
			c->nomem = true;
			break;
		}
		if (*ips == '\0')
			perr(p, line, "USERS: \"%s\" has no IP before '@'", w);
		for (ip = strtok_r(ips, ":", &save2); ip; ip = strtok_r(NULL, ":", &save2)) {
			struct policy_addr a = { .octet_only = true, .line = line };

			n_ips++;
			if (!parse_octet(ip, &a.ip)) {
				perr(p, line, "USERS: \"%s\" is not a last IP octet 1..254 (users are given "
				     "by the last number of their IP, groups as 6:23:25)", ip);
				continue;
			}
			if (policy_user_add_addr(u, a) != 0)
				c->nomem = true;
		}
		/* "6::23" is 6 and 23 to bash's word splitting; ":" is nobody */
		if (*ips != '\0' && n_ips == 0)
			perr(p, line, "USERS: \"%s\" names no IP (a group is written 6:23:25)", w);
		if (at) {
			/* 0.79: @down[|up] ceilings in Fair NAT units */
			char *bar = strchr(at, '|');
			char err[160];

			if (bar)
				*bar++ = '\0';
			if (*at && policy_parse_rate(at, true, &u->ceil_down, err, sizeof(err)) != 0)
				perr(p, line, "USERS: download ceil of %s: %s", u->name, err);
			if (bar && *bar && policy_parse_rate(bar, true, &u->ceil_up, err, sizeof(err)) != 0)
				perr(p, line, "USERS: upload ceil of %s: %s", u->name, err);
			if (!*at && !(bar && *bar))
				perr(p, line, "USERS: expected IP@down, IP@down|up or IP@|up after '@'");
		}
	}
	free(buf);
}

/* PORTS="2 4000:6999 183 2000:3999": pairs of user octet and port/range. */
static void f_ports(struct fctx *c)
{
	struct policy *p = c->p;
	int line = c->line[V_PORTS];
	char *save = NULL, *w, *buf = strdup(c->val[V_PORTS]);
	char *ip = NULL;

	if (buf == NULL) {
		c->nomem = true;
		return;
	}
	for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		struct policy_forward f = { .protos = POLICY_PROTO_TCP | POLICY_PROTO_UDP,
		                            .user = SIZE_MAX, .line = token_line(c, V_PORTS, c->val[V_PORTS] + (w - buf)) };

		if (ip == NULL) {
			ip = w;
			continue;
		}
		f.to.octet_only = true;
		f.to.line = f.line;
		if (!parse_octet(ip, &f.to.ip))
			perr(p, f.line, "PORTS: \"%s\" is not a last IP octet 1..254 (expected pairs "
			     "\"user port-or-range\")", ip);
		else if (!policy_parse_port_range(w, ':', &f.lo, &f.hi))
			perr(p, f.line, "PORTS: \"%s\" is not a port 1..65535 or a range like 4000:6999", w);
		else if (policy_add_forward(p, &f) != 0)
			c->nomem = true;
		ip = NULL;
	}
	if (ip != NULL)
		perr(p, line, "PORTS: \"%s\" has no port after it (expected pairs \"user port\")", ip);
	free(buf);
}

/* Pass 2: interpret every variable, with its line (0 = script default). */
static void f_interpret(struct fctx *c)
{
	struct policy *p = c->p;
	uint64_t v;

	/* FEATURES and quirk Q1 */
	{
		char *save = NULL, *w, *buf = strdup(c->val[V_FEATURES]);

		if (buf == NULL) {
			c->nomem = true;
			return;
		}
		p->nat.features = 0;
		for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
			bool ipt;
			unsigned f = policy_feature_word(w, &ipt);

			if (f == 0) {
				perr(p, c->line[V_FEATURES], "FEATURES: unknown feature \"%s\" (expected PROC "
				     "MODULES RESET NAT FORWARD QOS_DOWN QOS_UP TOS)", w);
			} else if (ipt && c->line[V_FEATURES] == 0) {
				/* the script default: the original never tests these names */
			} else if (ipt) {
				pnote(p, c->line[V_FEATURES], "FEATURES: %s is the spelling of Fair NAT's own "
				      "defaults, which its code never tests (quirk Q1); fairway reads it as %s",
				      w, w + 4);
				p->nat.features |= f;
			} else {
				p->nat.features |= f;
			}
		}
		free(buf);
		if (c->line[V_FEATURES] == 0)
			pnote(p, 0, "FEATURES is not set: Fair NAT 0.80's default (PROC MODULES IPT_RESET "
			      "IPT_NAT IPT_FORWARD QOS_DOWN QOS_UP) names features its code never tests, so "
			      "NAT, port forwarding, RESET and TOS stay off (quirk Q1), as in the original");
	}
	if (!policy_valid_dev(c->val[V_DEV_LAN]))
		perr(p, c->line[V_DEV_LAN], "DEV_LAN: \"%s\" is not a network device name", c->val[V_DEV_LAN]);
	else
		snprintf(p->nat.dev_lan, sizeof(p->nat.dev_lan), "%s", c->val[V_DEV_LAN]);
	if (!policy_valid_dev(c->val[V_DEV_NET]))
		perr(p, c->line[V_DEV_NET], "DEV_NET: \"%s\" is not a network device name", c->val[V_DEV_NET]);
	else
		snprintf(p->nat.dev_net, sizeof(p->nat.dev_net), "%s", c->val[V_DEV_NET]);
	f_rate(c, V_RATE_LAN, &p->link.rate_lan, false);
	f_rate(c, V_RATE_UP, &p->link.rate_up, false);
	f_rate(c, V_RATE_DOWN, &p->link.rate_down, false);
	if (f_uint(c, V_SUB, 99, &v))
		p->link.sub_percent = (unsigned)v;
	if (f_uint(c, V_LOCAL, 99, &v))
		p->link.local_percent = (unsigned)v;
	f_users(c);
	f_ports(c);
	if (strcmp(c->val[V_CLASS_MODE], "default") == 0)
		p->nat.class_mode = POLICY_CLASS_DEFAULT;
	else if (strcmp(c->val[V_CLASS_MODE], "wonder") == 0)
		p->nat.class_mode = POLICY_CLASS_WONDER;
	else
		perr(p, c->line[V_CLASS_MODE], "CLASS_MODE: expected default or wonder (the modes "
		     "Fair NAT 0.80 ships), got \"%s\"", c->val[V_CLASS_MODE]);
	p->link.borrow = f_flag(c, V_BORROW);
	f_rate(c, V_CEIL_UP, &p->link.ceil_user_up, true);
	f_rate(c, V_CEIL_DOWN, &p->link.ceil_user_down, true);
	p->nat.ipp2p = f_flag(c, V_IPP2P_ENABLE);
	p->nat.ipp2p_udp = f_flag(c, V_IPP2P_UDP);
	p->nat.ipp2p_drop_all = f_flag(c, V_IPP2P_DROP_ALL);
	p->nat.ipp2p_drop_marked = f_flag(c, V_IPP2P_DROP_MARKED);
	if (p->nat.ipp2p) {
		p->nat.p2p_bytes = DEFAULT_P2P_BYTES;
		pwarn(p, c->line[V_IPP2P_ENABLE], "IPP2P_ENABLE=1: no mainline kernel has the ipp2p "
		      "match; instead fairway demotes connections that carried more than %u bytes "
		      "(conntrack byte counter) to each user's P2P band%s", DEFAULT_P2P_BYTES,
		      p->nat.ipp2p_udp ? " (TCP and UDP)" : " (TCP only, IPP2P_UDP=0)");
		if (c->line[V_IPP2P_OPTIONS])
			pnote(p, c->line[V_IPP2P_OPTIONS], "IPP2P_OPTIONS \"%s\" has no effect without "
			      "the ipp2p match", c->val[V_IPP2P_OPTIONS]);
		if (p->nat.ipp2p_drop_all)
			pwarn(p, c->line[V_IPP2P_DROP_ALL], "IPP2P_DROP_ALL=1: without ipp2p fairway cannot "
			      "tell P2P from other heavy connections, so it drops nothing; they are demoted");
	} else if (p->nat.ipp2p_drop_all || p->nat.ipp2p_udp) {
		pnote(p, c->line[V_IPP2P_DROP_ALL] ? c->line[V_IPP2P_DROP_ALL] : c->line[V_IPP2P_UDP],
		      "IPP2P_* settings have no effect while IPP2P_ENABLE=0");
	}
	if (!policy_parse_mss(c->val[V_MSS], &p->nat.mss_clamp))
		perr(p, c->line[V_MSS], "MSS_CLAMPING: expected 0, --clamp-mss-to-pmtu or --set-mss N, "
		     "got \"%s\"", c->val[V_MSS]);
	if (f_uint(c, V_TTL, 255, &v))
		p->nat.ttl_set = (unsigned)v;
	if (f_uint(c, V_MPU, 4096, &v))
		p->nat.htb_mpu = (unsigned)v;
	if (f_uint(c, V_OVERHEAD, 4096, &v))
		p->nat.htb_overhead = (unsigned)v;
	if (!policy_valid_prefix(c->val[V_PREFIX]))
		perr(p, c->line[V_PREFIX], "FAIRNAT_PREFIX: expected letters, digits or '_' "
		     "(1..15), got \"%s\"", c->val[V_PREFIX]);
	else
		snprintf(p->nat.prefix, sizeof(p->nat.prefix), "%s", c->val[V_PREFIX]);
	/* Binaries: tc and iptables are used; the rest has no job any more. */
	if (c->line[V_BIN_TC])
		snprintf(p->nat.tc, sizeof(p->nat.tc), "%s", c->val[V_BIN_TC]);
	if (c->line[V_BIN_IPT])
		snprintf(p->nat.iptables, sizeof(p->nat.iptables), "%s", c->val[V_BIN_IPT]);
	for (int i = V_BIN_IFC; i <= V_BIN_MODPROBE; i++)
		if (c->line[i])
			pnote(p, c->line[i], "%s is not needed: fairway reads addresses with ip(8) and "
			      "the kernel loads modules on demand", fvars[i].name);
	if (c->line[V_CONFIG])
		pnote(p, c->line[V_CONFIG], "FAIRNAT_CONFIG inside the config has no effect");
	if (p->nat.features & POLICY_F_MODULES)
		pnote(p, c->line[V_FEATURES], "FEATURES MODULES: nothing to do, the kernel loads "
		      "qdisc and netfilter modules on demand");
	pnote(p, 0, "rates use Fair NAT's units: 1kbit = 1024 bit/s (128kbit = 16384 bytes/s; "
	      "tc's kbit is 1000, quirk Q4)");
}

int policy_parse_fairnat(struct policy *p, const char *text, size_t len, const char *file)
{
	struct fctx c = { .p = p };
	int rc = 0;

	if (file)
		snprintf(p->file, sizeof(p->file), "%s", file);
	p->format = POLICY_FMT_FAIRNAT;
	p->has_nat = true;
	for (int i = 0; i < V__COUNT; i++) {
		c.val[i] = strdup(fvars[i].dflt);
		if (c.val[i] == NULL)
			c.nomem = true;
	}
	if (!c.nomem)
		f_scan(&c, text, len);
	if (!c.nomem)
		f_interpret(&c);
	for (int i = 0; i < V__COUNT; i++)
		free(c.val[i]);
	if (c.nomem)
		return -ENOMEM;
	rc = policy_validate(p);
	return rc;
}

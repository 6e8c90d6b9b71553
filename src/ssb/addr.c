/* addr — multiserver address parsing and printing (protocol.md §6).
 *
 * Parsing runs in two passes over one address (at most ADDR_TEXT_MAX bytes):
 *   1. the generic grammar: split on unescaped '~' into protocols and on
 *      unescaped ':' into name + data fields, undoing '!' escapes into a
 *      scratch buffer;
 *   2. the meaning of the known protocols: net, tunnel, shs.
 * Each field keeps to one form (protocol.md §13): ids are "@<b64>.ed25519"
 * in `tunnel`, keys are bare base64 in `shs`, and the other form is an
 * error, never silently fixed. */
#include "addr.h"
#include "keys.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_TOKENS (ADDR_TEXT_MAX + 1)

/* One address after pass 1: tokens are (offset, length) into the unescaped
 * text; protocol i owns tokens [first, first + count), name first. */
struct tok {
	uint16_t off, len;
};

struct proto {
	uint16_t first, count;
};

struct parsed {
	char text[ADDR_TEXT_MAX];
	struct tok tok[MAX_TOKENS];
	struct proto proto[MAX_TOKENS];
	size_t ntok, nproto;
};


/* data = ( ["-9] | [<-}] | "!" [!:;~] )* — printable ASCII except space,
 * '!', ':', ';' and '~'. */
static int is_data_char(unsigned char c)
{
	return (c >= 0x22 && c <= 0x39) || (c >= 0x3c && c <= 0x7d);
}

static int is_special(unsigned char c)
{
	return c == '!' || c == ':' || c == ';' || c == '~';
}

/* name = [a-z][a-z0-9-]+ */
static int is_name(const char *s, size_t len)
{
	if (len < 2 || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int tok_is(const struct parsed *p, size_t t, const char *lit)
{
	size_t n = strlen(lit);

	return p->tok[t].len == n && memcmp(p->text + p->tok[t].off, lit, n) == 0;
}

/* Pass 1. len <= ADDR_TEXT_MAX is checked by the caller, so every offset
 * fits in uint16_t and there are at most len + 1 tokens. */
static int split(const char *s, size_t len, struct parsed *p, char *err, size_t errlen)
{
	size_t o = 0, start = 0;

	p->ntok = 0;
	p->nproto = 0;
	p->proto[0].first = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '~';

		if (c == '!') {
			if (i + 1 >= len || !is_special((unsigned char)s[i + 1])) {
				util_set_err(err, errlen, "bad '!' escape at offset %zu", i);
				return -EINVAL;
			}
			p->text[o++] = s[++i];
			continue;
		}
		if (c == ';') {
			util_set_err(err, errlen, "unexpected ';' at offset %zu (one address expected)", i);
			return -EINVAL;
		}
		if (c != ':' && c != '~') {
			if (!is_data_char(c)) {
				util_set_err(err, errlen, "invalid character 0x%02x at offset %zu", c, i);
				return -EINVAL;
			}
			p->text[o++] = (char)c;
			continue;
		}
		/* ':' or '~' (or the end) closes a token. */
		p->tok[p->ntok].off = (uint16_t)start;
		p->tok[p->ntok].len = (uint16_t)(o - start);
		p->ntok++;
		start = o;
		if (c == '~') {
			struct proto *pr = &p->proto[p->nproto];

			pr->count = (uint16_t)(p->ntok - pr->first);
			if (!is_name(p->text + p->tok[pr->first].off, p->tok[pr->first].len)) {
				util_set_err(err, errlen, "protocol %zu: name is not [a-z][a-z0-9-]+",
				        p->nproto + 1);
				return -EINVAL;
			}
			p->nproto++;
			p->proto[p->nproto].first = (uint16_t)p->ntok;
		}
	}
	return 0;
}

/* Decimal only, no sign, value in [min, max]. */
static int parse_uint(const char *s, size_t len, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return -EINVAL;
	}
	if (v < min)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Host names and IP literals only: letters, digits, '.', '-', '_'; a ':'
 * makes it an IPv6 literal, which must parse and may carry one "%zone".
 * Everything accepted prints back without escapes. */
static int host_valid(const char *h, size_t len)
{
	const char *pct = memchr(h, '%', len);
	const char *colon = memchr(h, ':', len);
	size_t addrlen = pct != NULL ? (size_t)(pct - h) : len;
	char v6[ADDR_HOST_MAX + 1];
	struct in6_addr a6;

	if (len == 0 || len > ADDR_HOST_MAX || addrlen == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == ':' || c == '%'))
			return 0;
	}
	if (colon == NULL)
		return pct == NULL;
	/* The zone (after '%') names an interface: no ':' or second '%'. */
	if (pct != NULL && (pct + 1 == h + len || memchr(pct + 1, '%', len - addrlen - 1) ||
	                    memchr(pct + 1, ':', len - addrlen - 1)))
		return 0;
	memcpy(v6, h, addrlen);
	v6[addrlen] = '\0';
	return inet_pton(AF_INET6, v6, &a6) == 1;
}

/* net:<host>:<port> — the last field is the port, the fields before it
 * are rejoined with ':' (IPv6). An empty host means localhost. */
static int parse_net(const struct parsed *p, const struct proto *pr, struct addr *a,
                     char *err, size_t errlen)
{
	const struct tok *port = &p->tok[pr->first + pr->count - 1];
	uint32_t v;
	size_t hl = 0;

	if (pr->count < 3) {
		util_set_err(err, errlen, "net address needs a host and a port (net:HOST:PORT)");
		return -EINVAL;
	}
	for (size_t t = pr->first + 1; t < (size_t)pr->first + pr->count - 1; t++) {
		const struct tok *f = &p->tok[t];
		size_t sep = t > pr->first + 1u;

		if (hl + sep + f->len > ADDR_HOST_MAX) {
			util_set_err(err, errlen, "host is longer than %d characters", ADDR_HOST_MAX);
			return -EINVAL;
		}
		if (sep)
			a->host[hl++] = ':';
		memcpy(a->host + hl, p->text + f->off, f->len);
		hl += f->len;
	}
	a->host[hl] = '\0';
	if (hl == 0) {
		strcpy(a->host, "localhost");
		hl = strlen(a->host);
	}
	if (!host_valid(a->host, hl)) {
		util_set_err(err, errlen, "host is not a host name or IP address");
		return -EINVAL;
	}
	if (parse_uint(p->text + port->off, port->len, 1, 65535, &v) != 0) {
		util_set_err(err, errlen, "port is not a number 1..65535");
		return -EINVAL;
	}
	a->kind = ADDR_NET;
	a->port = (uint16_t)v;
	return 0;
}

/* tunnel:<portal @id>:<target @id>[:<instance>] */
static int parse_tunnel(const struct parsed *p, const struct proto *pr, struct addr *a,
                        char *err, size_t errlen)
{
	const struct tok *t = &p->tok[pr->first];
	uint32_t v;

	if (pr->count < 3 || pr->count > 4) {
		util_set_err(err, errlen, "tunnel address is tunnel:@PORTAL:@TARGET[:INSTANCE]");
		return -EINVAL;
	}
	if (keys_id_parse(p->text + t[1].off, t[1].len, a->portal) != 0) {
		util_set_err(err, errlen, "tunnel portal is not a feed id (@<base64>.ed25519)");
		return -EINVAL;
	}
	if (keys_id_parse(p->text + t[2].off, t[2].len, a->target) != 0) {
		util_set_err(err, errlen, "tunnel target is not a feed id (@<base64>.ed25519)");
		return -EINVAL;
	}
	if (pr->count == 4) {
		if (parse_uint(p->text + t[3].off, t[3].len, 0, UINT32_MAX, &v) != 0) {
			util_set_err(err, errlen, "tunnel instance is not a number 0..4294967295");
			return -EINVAL;
		}
		a->has_instance = true;
		a->instance = v;
	}
	a->kind = ADDR_TUNNEL;
	return 0;
}

/* Bare base64 key for shs, with a precise message for the common mistake
 * of pasting a feed id (or its ".ed25519" tail) into it. */
static int parse_shs_key(const char *s, size_t len, uint8_t out[static 32], const char *what,
                         char *err, size_t errlen)
{
	if (keys_pk_parse_b64(s, len, out) == 0)
		return 0;
	if ((len > 0 && s[0] == '@') || (len >= 8 && memcmp(s + len - 8, ".ed25519", 8) == 0))
		util_set_err(err, errlen, "shs %s must be bare base64, without '@' or '.ed25519'", what);
	else
		util_set_err(err, errlen, "shs %s is not 32 bytes of canonical base64", what);
	return -EINVAL;
}

/* shs:<base64 key>[:<base64 seed>] */
static int parse_shs(const struct parsed *p, const struct proto *pr, struct addr *a,
                     char *err, size_t errlen)
{
	const struct tok *t = &p->tok[pr->first];

	if (a->has_shs) {
		util_set_err(err, errlen, "more than one shs transform");
		return -EINVAL;
	}
	if (pr->count < 2 || pr->count > 3) {
		util_set_err(err, errlen, "shs transform is shs:KEY[:SEED]");
		return -EINVAL;
	}
	if (parse_shs_key(p->text + t[1].off, t[1].len, a->shs_pk, "key", err, errlen) != 0)
		return -EINVAL;
	if (pr->count == 3) {
		if (parse_shs_key(p->text + t[2].off, t[2].len, a->shs_seed, "seed",
		                  err, errlen) != 0)
			return -EINVAL;
		a->has_seed = true;
	}
	a->has_shs = true;
	return 0;
}

/* ws://<host>[:<port>][/<path>] and wss://… as multiserver's ws plugin
 * writes them with url.format: the ':' before the port is not escaped, so
 * the grammar splits "ws://h:8989" into "ws" "//h" "8989"; the fields are
 * rejoined with ':' and read as the authority of a URL. An IPv6 host is
 * bracketed ("ws://[::1]:8989"). No port means 80 (ws) or 443 (wss). */
static int parse_ws(const struct parsed *p, const struct proto *pr, bool secure,
                    struct addr *a, char *err, size_t errlen)
{
	char u[ADDR_TEXT_MAX + 1];
	size_t ul = 0, h0, hl, i;
	const char *pct;
	uint32_t v = secure ? 443 : 80;

	for (size_t t = pr->first + 1u; t < (size_t)pr->first + pr->count; t++) {
		const struct tok *f = &p->tok[t];

		if (t > pr->first + 1u)
			u[ul++] = ':';
		memcpy(u + ul, p->text + f->off, f->len);
		ul += f->len;
	}
	u[ul] = '\0';
	if (pr->count < 2 || ul < 2 || u[0] != '/' || u[1] != '/') {
		util_set_err(err, errlen, "%s address is %s://HOST[:PORT][/PATH]",
		             secure ? "wss" : "ws", secure ? "wss" : "ws");
		return -EINVAL;
	}
	i = 2;
	if (u[i] == '[') {
		const char *close = memchr(u + i, ']', ul - i);

		if (close == NULL) {
			util_set_err(err, errlen, "IPv6 host has no closing ']'");
			return -EINVAL;
		}
		h0 = i + 1;
		hl = (size_t)(close - (u + h0));
		i = (size_t)(close - u) + 1;
		if (memchr(u + h0, ':', hl) == NULL) {
			util_set_err(err, errlen, "host in [] is not an IPv6 address");
			return -EINVAL;
		}
		/* A zone in a URL is "%25ZONE" (RFC 6874: '%' is itself
		 * percent-encoded); it is kept as "%ZONE", the form net: and
		 * getaddrinfo use, and printed back as "%25ZONE". */
		pct = memchr(u + h0, '%', hl);
		if (pct != NULL) {
			size_t zo = (size_t)(pct - u);

			if (hl - (zo - h0) < 3 || memcmp(pct, "%25", 3) != 0) {
				util_set_err(err, errlen, "IPv6 zone in a ws URL is written %%25ZONE (RFC 6874)");
				return -EINVAL;
			}
			memmove(u + zo + 1, u + zo + 3, ul - zo - 3);
			ul -= 2;
			hl -= 2;
			i -= 2;
			u[ul] = '\0';
		}
	} else {
		h0 = i;
		while (i < ul && u[i] != ':' && u[i] != '/')
			i++;
		hl = i - h0;
		if (memchr(u + h0, '%', hl) != NULL) {   /* zones only on IPv6, in [] */
			util_set_err(err, errlen, "host is not a host name or IP address");
			return -EINVAL;
		}
	}
	if (hl == 0 || hl > ADDR_HOST_MAX) {
		util_set_err(err, errlen, hl == 0 ? "ws address has no host" :
		             "host is longer than 255 characters");
		return -EINVAL;
	}
	memcpy(a->host, u + h0, hl);
	a->host[hl] = '\0';
	if (!host_valid(a->host, hl)) {
		util_set_err(err, errlen, "host is not a host name or IP address");
		return -EINVAL;
	}
	if (i < ul && u[i] == ':') {
		size_t p0 = ++i;

		while (i < ul && u[i] != '/')
			i++;
		if (parse_uint(u + p0, i - p0, 1, 65535, &v) != 0) {
			util_set_err(err, errlen, "port is not a number 1..65535");
			return -EINVAL;
		}
	}
	if (i < ul && u[i] != '/') {
		util_set_err(err, errlen, "unexpected '%c' after the ws host", u[i]);
		return -EINVAL;
	}
	if (ul - i > ADDR_PATH_MAX) {
		util_set_err(err, errlen, "ws path is longer than %d characters", ADDR_PATH_MAX);
		return -EINVAL;
	}
	memcpy(a->path, u + i, ul - i);
	a->path[ul - i] = '\0';
	/* Only an escape can put these here, and the canonical form has none
	 * (a ':' in the path is fine: it prints back unescaped, as above). */
	if (strpbrk(a->path, "!;~") != NULL) {
		util_set_err(err, errlen, "ws path holds an escaped '!', ';' or '~'");
		return -EINVAL;
	}
	a->kind = ADDR_WS;
	a->secure = secure;
	a->port = (uint16_t)v;
	return 0;
}

static int parse_one(const char *s, size_t len, struct addr *out, struct parsed *p,
                     char *err, size_t errlen)
{
	struct addr a;
	const struct tok *name;
	int rc;

	memset(&a, 0, sizeof(a));
	if (len == 0) {
		util_set_err(err, errlen, "empty address");
		return -EINVAL;
	}
	if (len > ADDR_TEXT_MAX) {
		util_set_err(err, errlen, "address is longer than %d characters", ADDR_TEXT_MAX);
		return -EINVAL;
	}
	rc = split(s, len, p, err, errlen);
	if (rc != 0)
		return rc;

	name = &p->tok[p->proto[0].first];
	if (tok_is(p, p->proto[0].first, "net")) {
		rc = parse_net(p, &p->proto[0], &a, err, errlen);
	} else if (tok_is(p, p->proto[0].first, "tunnel")) {
		rc = parse_tunnel(p, &p->proto[0], &a, err, errlen);
	} else if (tok_is(p, p->proto[0].first, "ws") || tok_is(p, p->proto[0].first, "wss")) {
		rc = parse_ws(p, &p->proto[0], name->len == 3, &a, err, errlen);
	} else {
		/* onion, unix...: recognised so a caller can say which
		 * transport it does not support. */
		a.kind = ADDR_OTHER;
		snprintf(a.other, sizeof(a.other), "%.*s", (int)name->len, p->text + name->off);
	}
	if (rc != 0)
		return rc;

	for (size_t i = 1; i < p->nproto; i++) {
		const struct proto *pr = &p->proto[i];

		if (tok_is(p, pr->first, "shs")) {
			rc = parse_shs(p, pr, &a, err, errlen);
			if (rc != 0)
				return rc;
		} else if (a.kind != ADDR_OTHER) {
			/* net/tunnel print back exactly; a transform we would drop
			 * (noauth...) changes what the address means. */
			name = &p->tok[pr->first];
			util_set_err(err, errlen, "unsupported transform '%.*s'",
			        (int)(name->len > 16 ? 16 : name->len), p->text + name->off);
			return -EINVAL;
		}
	}
	*out = a;
	return 0;
}

int addr_parse(const char *s, size_t len, struct addr *out, char *err, size_t errlen)
{
	/* ~10 KiB of scratch: too big to be polite on small thread stacks
	 * but fine for libuv's main thread; static would break reentrancy. */
	struct parsed p;

	return parse_one(s, len, out, &p, err, errlen);
}

int addr_parse_multi(const char *s, size_t len, struct addr *out, size_t max, size_t *n,
                     char *err, size_t errlen)
{
	struct parsed p;
	size_t count = 0, start = 0;
	char why[160];
	int rc;

	*n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i + 1 < len && s[i] == '!') {
			i++;            /* an escaped ';' does not separate */
			continue;
		}
		if (i < len && s[i] != ';')
			continue;
		if (count == max) {
			util_set_err(err, errlen, "more than %zu alternatives", max);
			return -E2BIG;
		}
		rc = parse_one(s + start, i - start, &out[count], &p, why, sizeof(why));
		if (rc != 0) {
			util_set_err(err, errlen, "alternative %zu: %s", count + 1, why);
			return rc;
		}
		count++;
		start = i + 1;
	}
	*n = count;
	return 0;
}

/* Appends to out at *pos; tracks the length even past outlen so the
 * caller can tell -ENOSPC from success. */
static void emit(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void emit(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(*pos < outlen ? out + *pos : NULL, *pos < outlen ? outlen - *pos : 0,
	              fmt, ap);
	va_end(ap);
	if (r > 0)
		*pos += (size_t)r;
}

static int format_one(const struct addr *a, char *out, size_t outlen, size_t *pos)
{
	char k[KEYS_B64_LEN + 1], id1[KEYS_ID_LEN + 1], id2[KEYS_ID_LEN + 1];
	size_t hl;

	switch (a->kind) {
	case ADDR_NET:
		hl = strnlen(a->host, sizeof(a->host));
		if (hl == sizeof(a->host) || !host_valid(a->host, hl) || a->port == 0)
			return -EINVAL;
		/* A %zone is printed as parsed: it only means something on one
		 * machine, but without it a link-local address is unusable, and
		 * whatever is accepted must print back the same. */
		emit(out, outlen, pos, "net:%s:%u", a->host, (unsigned)a->port);
		break;
	case ADDR_TUNNEL:
		keys_id_format(id1, a->portal);
		keys_id_format(id2, a->target);
		emit(out, outlen, pos, "tunnel:%s:%s", id1, id2);
		if (a->has_instance)
			emit(out, outlen, pos, ":%lu", (unsigned long)a->instance);
		break;
	case ADDR_WS:
		hl = strnlen(a->host, sizeof(a->host));
		if (hl == sizeof(a->host) || !host_valid(a->host, hl) || a->port == 0 ||
		    strnlen(a->path, sizeof(a->path)) == sizeof(a->path) ||
		    (a->path[0] != '\0' && a->path[0] != '/') ||
		    strpbrk(a->path, " !;~") != NULL)
			return -EINVAL;
		hl = strcspn(a->host, "%");
		emit(out, outlen, pos, strchr(a->host, ':') ? "%s://[%.*s" : "%s://%.*s",
		     a->secure ? "wss" : "ws", (int)hl, a->host);
		if (a->host[hl] == '%')
			emit(out, outlen, pos, "%%25%s", a->host + hl + 1);
		if (strchr(a->host, ':'))
			emit(out, outlen, pos, "]");
		if (a->port != (a->secure ? 443 : 80))
			emit(out, outlen, pos, ":%u", (unsigned)a->port);
		emit(out, outlen, pos, "%s", a->path);
		break;
	default:
		return -EINVAL;
	}
	if (a->has_shs) {
		keys_pk_format_b64(k, a->shs_pk);
		emit(out, outlen, pos, "~shs:%s", k);
		if (a->has_seed) {
			keys_pk_format_b64(k, a->shs_seed);
			emit(out, outlen, pos, ":%s", k);
		}
	}
	return 0;
}

int addr_format_multi(const struct addr *a, size_t n, char *out, size_t outlen)
{
	size_t pos = 0;
	int rc;

	if (outlen == 0)
		return -ENOSPC;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			emit(out, outlen, &pos, ";");
		rc = format_one(&a[i], out, outlen, &pos);
		if (rc != 0)
			return rc;
	}
	if (pos >= outlen || pos > INT32_MAX) {
		out[0] = '\0';
		return -ENOSPC;
	}
	return (int)pos;
}

int addr_format(const struct addr *a, char *out, size_t outlen)
{
	return addr_format_multi(a, 1, out, outlen);
}

#include "cli.h"
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "addr.h"
#include "conn.h"
#include "log.h"
#include "tunnel.h"
#include "cmd.h"
#include "wsconn.h"

int cli_load_identity(const char *path, struct keys *out)
{
	char def[4096], err[512];
	int rc;

	if (path == NULL) {
		if (keys_default_path(def, sizeof(def)) != 0) {
			fprintf(stderr, "fairway: cannot build the default secret path\n");
			return EXIT_USAGE;
		}
		path = def;
	}
	rc = keys_load_file(path, out, err, sizeof(err));
	if (rc == -ENOENT) {
		fprintf(stderr, "fairway: %s\n(create an identity with: fairway keygen --secret %s)\n",
		        err, path);
		return EXIT_USAGE;
	}
	if (rc != 0) {
		fprintf(stderr, "fairway: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

int cli_identity_or_onetime(const char *path, struct keys *out)
{
	char def[4096];
	uint8_t seed[32];

	if (path != NULL || keys_default_path(def, sizeof(def)) != 0 || access(def, F_OK) == 0)
		return cli_load_identity(path, out);
	randombytes_buf(seed, sizeof(seed));
	keys_from_seed(out, seed);
	sodium_memzero(seed, sizeof(seed));
	log_debug("no identity at %s: using a one-time identity", def);
	return 0;
}

int cli_parse_caps(const char *b64, uint8_t out[32])
{
	if (b64 == NULL)
		b64 = CLI_MAIN_CAPS;
	/* Same strict decoder as keys (libsodium 1.0.18's own accepts bytes
	 * >= 0x80 as digits). */
	if (keys_pk_parse_b64(b64, strlen(b64), out) != 0) {
		fprintf(stderr, "fairway: --caps '%s' is not 32 bytes of base64\n", b64);
		return EXIT_USAGE;
	}
	return 0;
}

int cli_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long v;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		goto bad;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || v < 0 || v > 65535)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return 0;
bad:
	fprintf(stderr, "fairway: '%s' is not HOST:PORT (port 0..65535; IPv6 as [::1]:8008)\n", s);
	return EXIT_USAGE;
}

int cli_parse_advertise(const char *cmd, const char *opt, const char *s, char *host,
                        size_t hostlen, uint16_t *port)
{
	char probe[ADDR_TEXT_MAX], err[128];
	const char *colon = strchr(s, ':');
	struct addr a;
	int rc;

	host[0] = '\0';
	*port = 0;
	if (s[0] == '\0')
		return 0;
	if (s[0] == '[' && s[strlen(s) - 1] == ']') {        /* [v6] */
		if (strlen(s) - 2 >= hostlen)
			goto bad;
		snprintf(host, hostlen, "%.*s", (int)strlen(s) - 2, s + 1);
	} else if (s[0] == '[' || (colon != NULL && strchr(colon + 1, ':') == NULL)) {
		if (cli_parse_hostport(s, host, hostlen, port) != 0 || *port == 0)
			goto bad;
	} else {                                             /* a name, v4 or bare v6 */
		if (strlen(s) >= hostlen)
			goto bad;
		snprintf(host, hostlen, "%s", s);
	}
	/* Whatever the net: address can carry (multiserver writes IPv6 bare:
	 * net:2001:db8::1:8008). */
	snprintf(probe, sizeof(probe), "net:%s:%u", host, *port ? *port : 1u);
	rc = addr_parse(probe, strlen(probe), &a, err, sizeof(err));
	if (rc == 0 && a.kind == ADDR_NET && strcmp(a.host, host) == 0)
		return 0;
bad:
	fprintf(stderr, "fairway %s: %s: '%s' is not HOST[:PORT] (a host name or IP address, "
	        "IPv6 as [2001:db8::1]:8008, port 1..65535)\n", cmd, opt, s);
	host[0] = '\0';
	return EXIT_USAGE;
}

void cli_warn_unspecified(const char *net_address)
{
	struct addr a;
	char err[64];
	struct in6_addr a6;
	struct in_addr a4;

	if (addr_parse(net_address, strlen(net_address), &a, err, sizeof(err)) != 0 ||
	    a.kind != ADDR_NET)
		return;
	if ((inet_pton(AF_INET, a.host, &a4) == 1 && a4.s_addr == htonl(INADDR_ANY)) ||
	    (inet_pton(AF_INET6, a.host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6)))
		log_warn("the address printed, %s, names no host (%s%s%s means every local "
		         "address): peers cannot dial it; give --advertise HOST[:PORT] with a name "
		         "or address they can reach", net_address, strchr(a.host, ':') ? "[" : "",
		         a.host, strchr(a.host, ':') ? "]" : "");
}

int cli_pick_route(const struct addr *a, size_t n, const struct addr **net,
                   const struct addr **tun)
{
	const struct addr *wss = NULL;

	*net = NULL;
	*tun = NULL;
	for (size_t i = 0; i < n && *tun == NULL; i++)
		if (a[i].kind == ADDR_TUNNEL && a[i].has_shs)
			*tun = &a[i];
	/* net: first (plain TCP costs least), then ws://; wss:// needs a
	 * TLS proxy (wsconn.h) and is only named in the error. */
	for (int pass = 0; pass < 2 && *net == NULL; pass++)
		for (size_t i = 0; i < n && *net == NULL; i++) {
			if (a[i].kind != (pass == 0 ? ADDR_NET : ADDR_WS) || !a[i].has_shs ||
			    (*tun != NULL && memcmp(a[i].shs_pk, (*tun)->portal, 32) != 0))
				continue;
			if (wsconn_unsupported(&a[i]) != NULL)
				wss = &a[i];
			else
				*net = &a[i];
		}
	if (*net != NULL)
		return 0;
	if (wss != NULL) {
		fprintf(stderr, "fairway: %s\n", wsconn_unsupported(wss));
	} else if (*tun != NULL) {
		/* A portal address was given but for another portal: say so,
		 * with both keys, rather than ask for what the user already gave. */
		for (size_t i = 0; i < n; i++)
			if ((a[i].kind == ADDR_NET || a[i].kind == ADDR_WS) && a[i].has_shs) {
				char want[KEYS_ID_LEN + 1], got[KEYS_ID_LEN + 1];

				keys_id_format(want, (*tun)->portal);
				keys_id_format(got, a[i].shs_pk);
				fprintf(stderr, "fairway: the portal's key differs: the tunnel address names "
				        "portal %s, but %s:%s:%u has key %s\n", want,
				        a[i].kind == ADDR_WS ? "ws" : "net", a[i].host, (unsigned)a[i].port, got);
				return EXIT_USAGE;
			}
		fprintf(stderr, "fairway: a tunnel address needs the portal's net:HOST:PORT~shs:KEY "
		                "or ws://HOST:PORT~shs:KEY (add it with ';' or --portal)\n");
	} else {
		fprintf(stderr, "fairway: no net:HOST:PORT~shs:KEY, ws://HOST:PORT~shs:KEY or "
		                "tunnel:…~shs:… address given\n");
	}
	return EXIT_USAGE;
}

int cli_dial(const struct conn_cfg *cfg, const struct addr *net, const struct addr *tun,
             struct conn **handle)
{
	char err[256];

	if (tun == NULL) {
		/* Failures after this arrive through cfg's on_close. */
		if (wsconn_dial(cfg, net, handle) == 0)
			return 0;
		fprintf(stderr, "fairway: cannot connect to the portal: %s\n",
		        wsconn_unsupported(net) != NULL ? wsconn_unsupported(net) : "out of memory");
		return EXIT_RUNTIME;
	}
	*handle = tunnel_dial(cfg, net, tun, err, sizeof(err));
	if (*handle != NULL)
		return 0;
	fprintf(stderr, "fairway: %s\n", err);
	return EXIT_RUNTIME;
}

int cli_parse_count(const char *cmd, const char *opt, const char *s, unsigned long min,
                    unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(stderr, "fairway %s: %s: '%s' is not a whole number from %lu to %lu\n",
		        cmd, opt, s, min, max);
		return EXIT_USAGE;
	}
	*out = v;
	return 0;
}

int cli_parse_duration(const char *cmd, const char *opt, const char *s, unsigned max_ms,
                       unsigned *out)
{
	unsigned v;

	if (!policy_parse_duration_ms(s, &v) || v > max_ms) {
		fprintf(stderr, "fairway %s: %s: '%s' is not a duration up to %u ms "
		        "(e.g. 15s, 500ms, 10min; a bare number is milliseconds)\n", cmd, opt, s, max_ms);
		return EXIT_USAGE;
	}
	*out = v;
	return 0;
}

int cli_default_db(char *out, size_t len)
{
	char secret[4096];
	char *slash;
	int n;

	if (keys_default_path(secret, sizeof(secret)) != 0)
		return -ENOENT;
	slash = strrchr(secret, '/');
	if (slash != NULL)
		*slash = '\0';
	n = snprintf(out, len, "%s/room.db", slash != NULL ? secret : ".");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

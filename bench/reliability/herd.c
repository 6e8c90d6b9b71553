/* herd: N announced hosts in one process (one libuv loop, the real
 * src/relay/host.c each), for the thundering-herd benchmark of issue 11:
 *
 *   herd PORTAL_NETADDR N [NETKEY_BASE64]
 *
 * Every host keeps reconnecting with host.c's backoff and jitter, exactly
 * as `fairway host` does; bench/reliability/herd.sh restarts the portal
 * under them and measures how long until all are announced again. Tunnels
 * to these hosts are ended at once (nothing is exposed). Runs until
 * SIGINT/SIGTERM. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "addr.h"
#include "host.h"
#include "keys.h"
#include "log.h"
#include "muxrpc.h"

static unsigned announced;

static void on_tunnel(struct mrpc_stream *s, const char *label, void *ud)
{
	mrpc_stream_end(s, "herd serves nothing");
}

static void on_announced(const char *addr, void *ud)
{
	announced++;
}

static void on_signal(uv_signal_t *s, int signum)
{
	uv_stop(s->loop);
}

int main(int argc, char **argv)
{
	static const char default_caps[] = "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=";
	const char *caps = argc > 3 ? argv[3] : default_caps;
	uv_loop_t *loop = uv_default_loop();
	uint8_t net_key[32];
	struct addr portal;
	struct keys *ids;
	uv_signal_t sint, sterm;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;

	if (argc < 3 || n <= 0 || n > 10000) {
		fprintf(stderr, "usage: herd PORTAL_NETADDR N(1..10000) [NETKEY_BASE64]\n");
		return 2;
	}
	if (sodium_init() < 0 || log_init() < 0)
		return 1;
	char err[256] = "";

	if (addr_parse(argv[1], strlen(argv[1]), &portal, err, sizeof(err)) < 0 ||
	    portal.kind != ADDR_NET) {
		fprintf(stderr, "herd: %s: not a net:HOST:PORT~shs:KEY address %s\n", argv[1], err);
		return 2;
	}
	if (sodium_base642bin(net_key, sizeof(net_key), caps, strlen(caps), NULL, NULL, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0) {
		fprintf(stderr, "herd: the network key must be 32 bytes of base64\n");
		return 2;
	}
	ids = calloc((size_t)n, sizeof(*ids));
	if (ids == NULL)
		return 1;
	for (long i = 0; i < n; i++) {
		uint8_t seed[32];
		struct host_cfg hc = { .loop = loop, .id = &ids[i], .net_key = net_key,
		                       .portal = portal, .accept = on_tunnel,
		                       .on_announced = on_announced };

		randombytes_buf(seed, sizeof(seed));
		keys_from_seed(&ids[i], seed);
		if (host_start(&hc) == NULL) {
			fprintf(stderr, "herd: out of memory at host %ld\n", i);
			return 1;
		}
	}
	uv_signal_init(loop, &sint);
	uv_signal_start(&sint, on_signal, SIGINT);
	uv_signal_init(loop, &sterm);
	uv_signal_start(&sterm, on_signal, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	fprintf(stderr, "herd: %u first announcements\n", announced);
	return 0;
}

/* storm: a bounded connection storm against a portal, for the reliability
 * suite and bench/reliability (issue 11 items 2–4).
 *
 *   storm -p PORT [-n SOCKETS] [-s SOURCES] [-t SECONDS] [-m MODE] [-k NETKEY_HEX]
 *
 * SOCKETS sockets, spread over SOURCES loopback addresses 127.0.0.2 …, each
 * reconnecting at once whenever the portal closes it, until SECONDS pass.
 * MODE says what a socket sends once connected:
 *   connect  nothing (wait to be closed)
 *   msg1     a valid SHS msg1 (HMAC of the network key over an ephemeral
 *            key, 64 bytes), then nothing: a pending handshake per socket
 *   drip     the same msg1, one byte a second
 *   garbage  64 random bytes
 * Prints one JSON line: {"connects":N,"closed":N,"errors":N,"seconds":S}.
 * Every count is bounded by SECONDS: the tool never runs longer. */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum mode { M_CONNECT, M_MSG1, M_DRIP, M_GARBAGE };

struct sock {
	uv_tcp_t tcp;
	uv_connect_t req;
	uv_timer_t drip;
	int src;
	unsigned sent;   /* drip: bytes of msg1 out */
	int live;        /* handles open: tcp, drip */
};

static struct {
	uv_loop_t *loop;
	int port;
	int sources;
	enum mode mode;
	uint8_t msg1[64];
	uint8_t junk[64];
	char rbuf[4096];
	int stopping;
	unsigned long connects, closed, errors;
} S;

static void sock_start(struct sock *k);

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	(void)h; (void)n;
	*b = uv_buf_init(S.rbuf, sizeof(S.rbuf));
}

static void on_tcp_closed(uv_handle_t *h)
{
	struct sock *k = h->data;

	if (!S.stopping)
		sock_start(k);
}

static void sock_restart(struct sock *k)
{
	uv_timer_stop(&k->drip);
	if (!uv_is_closing((uv_handle_t *)&k->tcp))
		uv_close((uv_handle_t *)&k->tcp, on_tcp_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct sock *k = s->data;

	(void)b;
	if (n >= 0)
		return;   /* the portal never speaks first; msg2 is ignored */
	if (n == UV_EOF)
		S.closed++;
	else
		S.errors++;
	sock_restart(k);
}

static void send_bytes(struct sock *k, uint8_t *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

	uv_try_write((uv_stream_t *)&k->tcp, &b, 1);
}

static void on_drip(uv_timer_t *t)
{
	struct sock *k = t->data;

	if (k->sent < sizeof(S.msg1)) {
		send_bytes(k, S.msg1 + k->sent, 1);
		k->sent++;
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	struct sock *k = req->data;

	if (status < 0) {
		S.errors++;
		sock_restart(k);
		return;
	}
	S.connects++;
	uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
	switch (S.mode) {
	case M_CONNECT: break;
	case M_MSG1: send_bytes(k, S.msg1, sizeof(S.msg1)); break;
	case M_GARBAGE: send_bytes(k, S.junk, sizeof(S.junk)); break;
	case M_DRIP:
		k->sent = 0;
		uv_timer_start(&k->drip, on_drip, 0, 1000);
		break;
	}
}

static void sock_start(struct sock *k)
{
	struct sockaddr_in src, dst;
	char ip[32];

	if (S.stopping)
		return;
	snprintf(ip, sizeof(ip), "127.0.0.%d", 2 + k->src);
	uv_ip4_addr(ip, 0, &src);
	uv_ip4_addr("127.0.0.1", S.port, &dst);
	uv_tcp_init(S.loop, &k->tcp);
	k->tcp.data = k;
	k->req.data = k;
	if (uv_tcp_bind(&k->tcp, (struct sockaddr *)&src, 0) < 0 ||
	    uv_tcp_connect(&k->req, &k->tcp, (struct sockaddr *)&dst, on_connect) < 0) {
		S.errors++;
		uv_close((uv_handle_t *)&k->tcp, NULL);   /* retried by nobody: one socket fewer */
	}
}

static void on_end(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int parse_mode(const char *s, enum mode *m)
{
	static const char *const names[] = { "connect", "msg1", "drip", "garbage" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*m = (enum mode)i;
			return 0;
		}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	int n = 1000, seconds = 10, ch;
	const char *netkey = "d4a1cb88a66f02f8db635ce26441cc5dac1b08420ceaac230839b755845a9ffb";
	uint8_t key[32], eph_pk[32], eph_sk[32];
	struct sock *socks;
	uv_timer_t end;
	uint64_t t0;

	S.sources = 1;
	while ((ch = getopt(argc, argv, "p:n:s:t:m:k:")) != -1) {
		switch (ch) {
		case 'p': S.port = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 's': S.sources = atoi(optarg); break;
		case 't': seconds = atoi(optarg); break;
		case 'm':
			if (parse_mode(optarg, &S.mode) < 0) {
				fprintf(stderr, "storm: -m %s: expected connect, msg1, drip or garbage\n", optarg);
				return 2;
			}
			break;
		case 'k': netkey = optarg; break;
		default: goto usage;
		}
	}
	if (S.port <= 0 || S.port > 65535 || n <= 0 || n > 100000 || S.sources <= 0 ||
	    S.sources > 250 || seconds <= 0 || seconds > 3600)
		goto usage;
	if (sodium_init() < 0 ||
	    sodium_hex2bin(key, sizeof(key), netkey, strlen(netkey), NULL, NULL, NULL) != 0) {
		fprintf(stderr, "storm: -k: expected 64 hex digits\n");
		return 2;
	}
	/* msg1 = hmac_sha512_256(key: network key, msg: eph_pk) ‖ eph_pk; one
	 * for every socket (the portal cannot tell before msg3). */
	crypto_box_keypair(eph_pk, eph_sk);
	crypto_auth(S.msg1, eph_pk, sizeof(eph_pk), key);
	memcpy(S.msg1 + 32, eph_pk, 32);
	randombytes_buf(S.junk, sizeof(S.junk));

	S.loop = uv_default_loop();
	socks = calloc((size_t)n, sizeof(*socks));
	if (socks == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		socks[i].src = i % S.sources;
		uv_timer_init(S.loop, &socks[i].drip);
		socks[i].drip.data = &socks[i];
		sock_start(&socks[i]);
	}
	uv_timer_init(S.loop, &end);
	uv_timer_start(&end, on_end, (uint64_t)seconds * 1000, 0);
	t0 = uv_hrtime();
	uv_run(S.loop, UV_RUN_DEFAULT);
	S.stopping = 1;
	uv_walk(S.loop, close_any, NULL);
	uv_run(S.loop, UV_RUN_DEFAULT);
	printf("{\"connects\":%lu,\"closed\":%lu,\"errors\":%lu,\"seconds\":%.1f}\n", S.connects,
	       S.closed, S.errors, (double)(uv_hrtime() - t0) / 1e9);
	free(socks);
	return 0;
usage:
	fprintf(stderr, "usage: storm -p PORT [-n SOCKETS 1..100000] [-s SOURCES 1..250] "
	                "[-t SECONDS 1..3600] [-m connect|msg1|drip|garbage] [-k NETKEY_HEX]\n");
	return 2;
}

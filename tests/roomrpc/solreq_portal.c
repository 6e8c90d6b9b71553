/* A fairway portal with a room store that stands in for the web side of
 * client-initiated sign-in (rooms2-server.md §1.5, §4.2): it is what
 * /login?ssb-http-auth=1&cid=…&cc=… will do, minus HTTP, so that
 * portal_request_solution() is tested against the real
 * ssb-http-auth-client before the HTTP listener exists.
 *
 *   solreq_portal SECRET DB CAPS_B64
 *   stdout <- net:127.0.0.1:PORT~shs:KEY          (listening)
 *   stdin  -> CID CC                              (one request a line)
 *   stdout <- {"rc":N,"text":"…","sc":"…"}         (the outcome, once)
 *   stdin  -> EOF: stop
 * A line CID CC cancel asks, cancels at once, and prints {"cancelled":…}
 * (done must then never run). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "keys.h"
#include "portal.h"
#include "store.h"

static struct portal *portal;
static uv_pipe_t in;
static char line[4096];
static size_t used;

static void done(int rc, const char *text, void *ud)
{
	char *sc = ud;
	json_t *o = json_pack("{s:i,s:s,s:s}", "rc", rc, "text", text, "sc", sc);
	char *t = json_dumps(o, JSON_COMPACT);

	printf("%s\n", t);
	fflush(stdout);
	free(t);
	json_decref(o);
	free(sc);
}

static void cancelled_done(int rc, const char *text, void *ud)
{
	printf("{\"error\":\"done ran after cancel\"}\n");
	fflush(stdout);
}

static void request(char *l)
{
	char *cid = strtok(l, " "), *cc = strtok(NULL, " "), *cancel = strtok(NULL, " ");
	uint8_t pk[32], raw[32];
	char *sc = malloc(64);
	struct portal_solreq *r = NULL;
	int rc;

	if (cid == NULL || cc == NULL || sc == NULL || keys_id_parse(cid, strlen(cid), pk) != 0) {
		printf("{\"error\":\"want: CID CC [cancel]\"}\n");
		fflush(stdout);
		free(sc);
		return;
	}
	/* sc as go-ssb-room makes it: 32 bytes, URL-safe base64, padded */
	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(sc, 64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE);
	rc = portal_request_solution(portal, pk, sc, cc, cancel ? cancelled_done : done, sc, &r);
	if (rc != 0) {
		done(rc, rc == -ENOTCONN ? "client not connected to room" : rc == -EPERM ? "not a member"
		                                                                        : strerror(-rc), sc);
		return;
	}
	if (cancel != NULL) {
		portal_solution_cancel(r);
		printf("{\"cancelled\":true}\n");
		fflush(stdout);
		free(sc);   /* the portal keeps its own copy; done will not run */
	}
}

static void alloc_cb(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	b->base = line + used;
	b->len = sizeof line - used - 1;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	char *nl;

	if (n < 0) {
		uv_close((uv_handle_t *)&in, NULL);
		portal_stop(portal);
		return;
	}
	used += (size_t)n;
	while ((nl = memchr(line, '\n', used)) != NULL) {
		*nl = '\0';
		request(line);
		used -= (size_t)(nl + 1 - line);
		memmove(line, nl + 1, used);
	}
	if (used >= sizeof line - 1)
		used = 0;
}

int main(int argc, char **argv)
{
	uv_loop_t *loop = uv_default_loop();
	struct store *st = NULL;
	struct keys id;
	uint8_t net[32];
	size_t got = 0;
	char err[512];
	struct portal_cfg cfg = { .loop = loop, .host = "127.0.0.1", .privacy = PORTAL_COMMUNITY };

	if (argc != 4 || sodium_init() < 0 || keys_load_file(argv[1], &id, err, sizeof err) != 0 ||
	    store_open(argv[2], &st, err, sizeof err) != 0 ||
	    sodium_base642bin(net, 32, argv[3], strlen(argv[3]), NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 || got != 32) {
		fprintf(stderr, "usage: %s SECRET DB CAPS_B64 (%s)\n", argv[0], err);
		return 2;
	}
	cfg.id = &id;
	cfg.net_key = net;
	cfg.store = st;
	if (portal_start(&cfg, &portal, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s\n", portal_address(portal));
	fflush(stdout);
	uv_pipe_init(loop, &in, 0);
	uv_pipe_open(&in, 0);
	uv_read_start((uv_stream_t *)&in, alloc_cb, read_cb);
	uv_run(loop, UV_RUN_DEFAULT);
	portal_free(portal);
	uv_run(loop, UV_RUN_DEFAULT);
	store_close(st);
	keys_wipe(&id);
	return 0;
}

/* wsup — see wsup.h. */
#include "wsup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "portal.h"
#include "ws.h"

#define WSUP_MAX_LIST 16
#define WSUP_ORIGIN_MAX 256

struct wsup {
	struct portal *p;                         /* borrowed */
	char origins[WSUP_MAX_LIST][WSUP_ORIGIN_MAX];
	size_t n_origins;                         /* 0: any Origin */
	struct sockaddr_storage trusted[WSUP_MAX_LIST];   /* ports unused */
	size_t n_trusted;
};

/* An IP literal (no port) into ss. */
static bool ip_parse(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

static bool same_ip(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		              &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	              &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

/* The last hop of an X-Forwarded-For value ("a, b, c" → c), trimmed. */
static bool last_hop(const char *xff, struct sockaddr_storage *ss)
{
	const char *s = strrchr(xff, ',');
	char ip[INET6_ADDRSTRLEN + 1];
	size_t n;

	s = s != NULL ? s + 1 : xff;
	s += strspn(s, " \t");
	n = strcspn(s, " \t");
	if (n == 0 || n >= sizeof(ip))
		return false;
	memcpy(ip, s, n);
	ip[n] = '\0';
	return ip_parse(ip, ss);
}

/* MHD gives us the socket: the portal takes a duplicate (its own from
 * now on) and MHD closes its copy. The peer is the socket's address, or
 * a trusted proxy's last X-Forwarded-For hop. */
static void upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra,
                     size_t n, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct wsup *w = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *peer = ci != NULL ? ci->client_addr : NULL;
	struct sockaddr_storage fwd;
	int fd = dup(sock);

	(void)req_cls;
	if (peer != NULL && w->n_trusted > 0) {
		const char *xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");

		for (size_t i = 0; i < w->n_trusted; i++) {
			if (!same_ip(peer, &w->trusted[i]))
				continue;
			if (xff != NULL && last_hop(xff, &fwd))
				peer = (const struct sockaddr *)&fwd;
			else if (xff != NULL)
				log_info("websocket: X-Forwarded-For from the trusted proxy has no "
				         "address as its last hop; using the proxy's");
			break;
		}
	}
	if (fd < 0)
		log_warn("websocket: cannot take the upgraded socket: out of descriptors");
	else
		(void)portal_accept_ws(w->p, fd, extra, n, peer);
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static enum MHD_Result refuse(struct http_req *r, unsigned status, const char *why)
{
	log_info("websocket upgrade from %s refused: %s", r->peer, why);
	return http_reply(r, status, "text/plain; charset=utf-8", why, strlen(why));
}

static enum MHD_Result on_upgrade(struct http_req *r)
{
	struct wsup *w = r->ud;
	const char *origin = http_header(r, "Origin");
	const char *key = http_header(r, "Sec-WebSocket-Key");
	const char *ver = http_header(r, "Sec-WebSocket-Version");
	const char *conn = http_header(r, "Connection");
	char acc[WS_ACCEPT_LEN + 1];
	struct MHD_Response *resp;

	if (strcmp(r->method, "GET") != 0)
		return refuse(r, MHD_HTTP_BAD_REQUEST, "a websocket upgrade is a GET\n");
	if (conn == NULL || strcasestr(conn, "upgrade") == NULL)
		return refuse(r, MHD_HTTP_BAD_REQUEST, "Connection: Upgrade is missing\n");
	if (ver == NULL || strcmp(ver, "13") != 0) {
		resp = MHD_create_response_from_buffer(25, (void *)"websocket version is 13\r\n",
		                                       MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, "Sec-WebSocket-Version", "13");
		log_info("websocket upgrade from %s refused: version %s", r->peer, ver ? ver : "missing");
		return http_queue(r, MHD_HTTP_UPGRADE_REQUIRED, resp);
	}
	if (w->n_origins > 0) {
		size_t i = 0;

		while (origin != NULL && i < w->n_origins && strcasecmp(origin, w->origins[i]) != 0)
			i++;
		if (origin == NULL || i == w->n_origins) {
			log_info("websocket upgrade from %s refused: Origin %s is not in ws-origin",
			         r->peer, origin != NULL ? origin : "(none)");
			return http_reply(r, MHD_HTTP_FORBIDDEN, "text/plain; charset=utf-8",
			                  "this Origin may not connect\n", 28);
		}
	}
	if (key == NULL || strlen(key) != WS_KEY_LEN || ws_accept_key(key, WS_KEY_LEN, acc) != 0)
		return refuse(r, MHD_HTTP_BAD_REQUEST, "Sec-WebSocket-Key: expected 16 bytes of base64\n");
	resp = MHD_create_response_for_upgrade(upgraded, w);
	if (resp == NULL)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket") != MHD_YES ||
	    MHD_add_response_header(resp, "Sec-WebSocket-Accept", acc) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return http_queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

/* Splits a comma list, calling one(entry) for each non-empty one. */
static int each_entry(const char *list, const char *key, struct wsup *w,
                      int (*one)(struct wsup *, const char *, char *, size_t),
                      char *err, size_t errlen)
{
	char item[WSUP_ORIGIN_MAX];

	while (list != NULL && *list != '\0') {
		size_t n = strcspn(list, ",");
		const char *s = list;

		list += n + (list[n] == ',');
		while (n > 0 && (*s == ' ' || *s == '\t'))
			s++, n--;
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		if (n >= sizeof(item)) {
			snprintf(err, errlen, "%s: an entry of %zu bytes (at most %zu)", key, n, sizeof(item) - 1);
			return -EINVAL;
		}
		memcpy(item, s, n);
		item[n] = '\0';
		if (one(w, item, err, errlen) != 0)
			return -EINVAL;
	}
	return 0;
}

static int add_origin(struct wsup *w, const char *o, char *err, size_t errlen)
{
	/* An Origin is scheme://host[:port], nothing after (RFC 6454). */
	const char *h = strncmp(o, "http://", 7) == 0 ? o + 7 : strncmp(o, "https://", 8) == 0 ? o + 8 : NULL;

	if (h == NULL || *h == '\0' || strpbrk(h, "/?# \"") != NULL) {
		snprintf(err, errlen, "ws-origin: \"%s\" is not an origin (http[s]://HOST[:PORT])", o);
		return -EINVAL;
	}
	if (w->n_origins == WSUP_MAX_LIST) {
		snprintf(err, errlen, "ws-origin: more than %d origins", WSUP_MAX_LIST);
		return -EINVAL;
	}
	snprintf(w->origins[w->n_origins++], WSUP_ORIGIN_MAX, "%s", o);
	return 0;
}

static int add_trusted(struct wsup *w, const char *a, char *err, size_t errlen)
{
	if (w->n_trusted == WSUP_MAX_LIST) {
		snprintf(err, errlen, "trust-proxy: more than %d addresses", WSUP_MAX_LIST);
		return -EINVAL;
	}
	if (!ip_parse(a, &w->trusted[w->n_trusted])) {
		snprintf(err, errlen, "trust-proxy: \"%s\" is not an IP address", a);
		return -EINVAL;
	}
	w->n_trusted++;
	return 0;
}

int wsup_attach(struct http *h, struct portal *p, const char *origins, const char *trusted,
                struct wsup **out, char *err, size_t errlen)
{
	struct wsup *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->p = p;
	rc = each_entry(origins, "ws-origin", w, add_origin, err, errlen);
	if (rc == 0)
		rc = each_entry(trusted, "trust-proxy", w, add_trusted, err, errlen);
	if (rc != 0) {
		free(w);
		return rc;
	}
	http_set_upgrade(h, on_upgrade, w);
	*out = w;
	return 0;
}

void wsup_free(struct wsup *w)
{
	free(w);
}

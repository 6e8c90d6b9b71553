/* wsup — see wsup.h. */
#include "wsup.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "portal.h"
#include "ws.h"

/* MHD gives us the socket: the portal takes a duplicate (its own from
 * now on) and MHD closes its copy. */
static void upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra,
                     size_t n, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct portal *p = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	int fd = dup(sock);

	(void)req_cls;
	if (fd < 0)
		log_warn("websocket: cannot take the upgraded socket: out of descriptors");
	else
		(void)portal_accept_ws(p, fd, extra, n, ci != NULL ? ci->client_addr : NULL);
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static enum MHD_Result refuse(struct http_req *r, unsigned status, const char *why)
{
	log_info("websocket upgrade from %s refused: %s", r->peer, why);
	return http_reply(r, status, "text/plain; charset=utf-8", why, strlen(why));
}

static enum MHD_Result on_upgrade(struct http_req *r)
{
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
	if (key == NULL || strlen(key) != WS_KEY_LEN || ws_accept_key(key, WS_KEY_LEN, acc) != 0)
		return refuse(r, MHD_HTTP_BAD_REQUEST, "Sec-WebSocket-Key: expected 16 bytes of base64\n");
	resp = MHD_create_response_for_upgrade(upgraded, r->ud);
	if (resp == NULL)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket") != MHD_YES ||
	    MHD_add_response_header(resp, "Sec-WebSocket-Accept", acc) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return http_queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

void wsup_attach(struct http *h, struct portal *p)
{
	http_set_upgrade(h, on_upgrade, p);
}

/* addr — multiserver addresses (protocol.md §6).
 *
 *   net:<host>:<port>~shs:<base64 key>
 *   tunnel:<portal @id>:<target @id>[:<instance>]~shs:<base64 target key>
 *   ws://<host>[:<port>][/<path>]~shs:<base64 key>   (and wss://)
 *   several alternatives joined by ';'
 *
 * Grammar (multiserver-address 1.0.1): a protocol is name(:data)*, an
 * address is protocol(~protocol)*; data may not hold space, ':', ';', '~'
 * or '!' unescaped ('!' escapes), nor bytes >= 0x7f. For `net` the last
 * field is the port and everything between is the host, so IPv6 hosts
 * appear unbracketed. An IPv6 host may carry a zone (an interface, for
 * link-local addresses): "net:fe80::1%eth0:8008", and in a ws URL as
 * RFC 6874 writes it, "ws://[fe80::1%25eth0]:8989"; either way host holds
 * "fe80::1%eth0" (what getaddrinfo takes) and the zone is printed back.
 * Every address addr_parse accepts prints back to text that parses to the
 * same address (fuzz_addr checks it). Pure: no DNS, no sockets. */
#ifndef FAIRWAY_ADDR_H
#define FAIRWAY_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADDR_HOST_MAX 255
#define ADDR_TEXT_MAX 1024   /* longest single address we accept or print */

#define ADDR_PATH_MAX 127

/* ADDR_WS is last so switch statements written before it keep compiling. */
enum addr_kind { ADDR_NET, ADDR_TUNNEL, ADDR_OTHER, ADDR_WS };

struct addr {
	enum addr_kind kind;
	/* ADDR_NET and ADDR_WS (port 80/443 when a ws/wss address omits it) */
	char host[ADDR_HOST_MAX + 1];
	uint16_t port;
	/* ADDR_WS: wss (TLS) or ws, and the request path ("" means "/") */
	bool secure;
	char path[ADDR_PATH_MAX + 1];
	/* ADDR_TUNNEL */
	uint8_t portal[32], target[32];
	bool has_instance;
	uint32_t instance;
	/* the shs transform, when present */
	bool has_shs;
	uint8_t shs_pk[32];
	bool has_seed;           /* legacy one-time client key seed */
	uint8_t shs_seed[32];
	/* ADDR_OTHER: the transport's name (ws, onion, ...) for messages */
	char other[16];
};

/* Parses one address (no ';'). Returns 0 or -EINVAL with a reason in err
 * ("port is not a number 1..65535", "shs key is not 32 bytes of base64"...). */
__attribute__((warn_unused_result))
int addr_parse(const char *s, size_t len, struct addr *out, char *err, size_t errlen);

/* Parses a ';'-separated list into out[0..max). *n gets the count. An
 * unparseable alternative fails the whole list (-EINVAL); more than max
 * alternatives is -E2BIG. */
__attribute__((warn_unused_result))
int addr_parse_multi(const char *s, size_t len, struct addr *out, size_t max, size_t *n,
                     char *err, size_t errlen);

/* Prints a (ADDR_NET, ADDR_TUNNEL or ADDR_WS) in canonical form: ws as
 * multiserver's ws plugin writes it (url.format: IPv6 hosts bracketed, the
 * default port left out). Returns the length
 * written (excluding NUL), -ENOSPC when out is too small, -EINVAL for
 * ADDR_OTHER. */
int addr_format(const struct addr *a, char *out, size_t outlen);
/* Joins n addresses with ';'. Same returns. */
int addr_format_multi(const struct addr *a, size_t n, char *out, size_t outlen);

#endif

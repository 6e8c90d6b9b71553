/* policy — users, rates, ceilings, forwards: one model for both planes.
 *
 * The portal plane groups SSB identities (`@…=.ed25519`) into users; the
 * router plane (`fairway nat`) groups LAN addresses: IPv4 (Fair NAT's),
 * IPv6 addresses and prefixes, and MACs (dual stack). Both share the
 * link settings (Fair NAT's RATE_*, RATE_SUB_PERCENT, RATE_LOCAL_PERCENT,
 * BORROW) and the per-user rate / ceiling per direction.
 *
 * Modules: policy.c (this model: init, load, validate, resolve),
 * policy_ini.c and policy_fairnat.c (the readers), policy_rate.c (units
 * and Fair NAT's arithmetic), policy_lex.c / policy_addr.c (lexers,
 * addresses); policy_int.h is what they share.
 *
 * Two readers fill the same struct policy:
 *   - fairway's own INI file (inih), sections [portal], [nat], [user NAME];
 *   - a Fair NAT 0.80 `fairnat.config` (a bash file of VAR="value" lines),
 *     parsed as text, never executed.
 *
 * Rates are bytes per second everywhere (uint64_t). fairway's file uses
 * tc's units (1000-based: 1kbit = 125 B/s); fairnat.config uses Fair NAT's
 * own 1024-based conversion (128kbit = 16384 B/s) so its numbers come out
 * exactly as the original's.
 *
 * Pure: parsing and computing do no I/O; policy_load() is the only
 * function that reads a file. Every problem is recorded as a diagnostic
 * with the file's line number; nothing is printed. */
#ifndef FAIRWAY_POLICY_H
#define FAIRWAY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_NAME_MAX   64   /* user names, incl. NUL */
#define POLICY_DEV_MAX    16   /* IFNAMSIZ */
#define POLICY_PREFIX_MAX 24
#define POLICY_PATH_MAX   256
#define POLICY_MSG_MAX    240
#define POLICY_ID_LEN     53   /* "@" + 44 base64 + ".ed25519" */

enum policy_format { POLICY_FMT_FAIRWAY, POLICY_FMT_FAIRNAT };

/* Fair NAT's CLASS_MODE. */
enum policy_class_mode { POLICY_CLASS_DEFAULT, POLICY_CLASS_WONDER };

/* Leaf qdiscs under each user's HTB class (router plane). */
enum policy_leaf {
	POLICY_LEAF_FQ_CODEL,   /* default: HTB band classes + fq_codel */
	POLICY_LEAF_CAKE,       /* HTB band classes + cake unlimited */
	POLICY_LEAF_SFQ,        /* Fair NAT's original: PRIO (TOS bands) + SFQ */
	POLICY_LEAF_PFIFO,      /* HTB band classes + pfifo: any kernel */
};

enum policy_backend { POLICY_BACKEND_NFT, POLICY_BACKEND_IPTABLES };

enum policy_privacy { POLICY_PRIVACY_OPEN, POLICY_PRIVACY_COMMUNITY, POLICY_PRIVACY_RESTRICTED };

/* Fair NAT FEATURES words. */
enum {
	POLICY_F_PROC     = 1u << 0,
	POLICY_F_MODULES  = 1u << 1,
	POLICY_F_RESET    = 1u << 2,
	POLICY_F_NAT      = 1u << 3,
	POLICY_F_FORWARD  = 1u << 4,
	POLICY_F_QOS_DOWN = 1u << 5,
	POLICY_F_QOS_UP   = 1u << 6,
	POLICY_F_TOS      = 1u << 7,
};

enum { POLICY_PROTO_TCP = 1, POLICY_PROTO_UDP = 2 };

enum policy_diag_level { POLICY_ERROR, POLICY_WARNING, POLICY_NOTE };

struct policy_diag {
	enum policy_diag_level level;
	int line;                    /* 0: not tied to a line */
	char msg[POLICY_MSG_MAX];
};

/* A LAN address. Fair NAT names hosts by their last octet only: the
 * network part comes from DEV_LAN's address at apply time
 * (policy_resolve_lan). */
struct policy_addr {
	uint32_t ip;                 /* host byte order */
	bool octet_only;             /* only the last octet is known yet */
	int line;
};

/* An IPv6 address (plen 128) or prefix (2001:db8:1:42::/64), network
 * byte order, host bits zero. IPv6 is routed, never NATed: the router
 * plane matches these as they are. */
struct policy_net6 {
	uint8_t a[16];
	unsigned plen;
	int line;
};

/* A host's MAC: covers every address it uses on the LAN (temporary IPv6
 * privacy addresses included). */
struct policy_mac {
	uint8_t a[6];
	int line;
};

struct policy_user {
	char name[POLICY_NAME_MAX];
	char **ids;                  /* portal: "@…=.ed25519", owned */
	size_t n_ids;
	struct policy_addr *addrs;   /* router: IPv4, owned */
	size_t n_addrs;
	struct policy_net6 *nets6;   /* router: IPv6 addresses and prefixes, owned */
	size_t n_nets6;
	struct policy_mac *macs;     /* router: owned */
	size_t n_macs;
	/* bytes/s; 0 = not set (equal share / line rate) */
	uint64_t rate_up, ceil_up, rate_down, ceil_down;
	int line;                    /* where the user was declared */
};

/* A port forward: public port range → one LAN address (router) or the
 * user's host (portal). */
struct policy_forward {
	uint16_t lo, hi;
	unsigned protos;             /* POLICY_PROTO_* */
	struct policy_addr to;       /* ip 0 = the user's first address */
	struct policy_net6 to6;      /* "to ADDR6"; plen 0 = none (a user's
	                              * forward opens to all its IPv6 entries) */
	size_t user;                 /* index into users, or SIZE_MAX */
	bool own;                    /* no "to": the user's own addresses (IPv6: all) */
	int line;
};

struct policy_link {
	uint64_t rate_up, rate_down; /* the real line, bytes/s */
	uint64_t rate_lan;           /* router: DEV_LAN's rate */
	unsigned sub_percent;        /* shape this far below the line */
	unsigned local_percent;      /* kept for the box itself (upload) */
	bool borrow;
	uint64_t ceil_user_up, ceil_user_down; /* 0 = the line */
};

#define POLICY_MORE_UPLINKS 7

/* An uplink after the first (dev-net = ppp0 wwan0): its own tree, its
 * own rates ([uplink wwan0] rate-up / rate-down). The first uplink is
 * dev_net with link.rate_up / rate_down. */
struct policy_uplink {
	char dev[POLICY_DEV_MAX];
	uint64_t rate_up, rate_down; /* bytes/s */
	int line;
};

struct policy_nat {
	char dev_lan[POLICY_DEV_MAX], dev_net[POLICY_DEV_MAX];
	struct policy_uplink more[POLICY_MORE_UPLINKS];
	size_t n_more;
	unsigned features;           /* POLICY_F_* */
	enum policy_class_mode class_mode;
	enum policy_leaf leaf;
	enum policy_backend backend;
	int mss_clamp;               /* 0 off, -1 clamp to PMTU, >0 set MSS */
	unsigned ttl_set, htb_mpu, htb_overhead;
	char prefix[POLICY_PREFIX_MAX]; /* chain prefix / nft table name */
	/* IPP2P: no mainline kernel has it; fairway demotes connections that
	 * carried more than p2p_bytes (conntrack byte counter) instead. */
	bool ipp2p;
	bool ipp2p_udp, ipp2p_drop_all, ipp2p_drop_marked;
	uint64_t p2p_bytes;
	char iptables[POLICY_PATH_MAX]; /* iptables command (…-restore, …-save) */
	char tc[POLICY_PATH_MAX];
	/* LAN network override (else read from DEV_LAN at apply time) */
	bool lan_set;
	uint32_t lan_ip;             /* the router's own LAN address */
	unsigned lan_prefix;
	unsigned mtu;                /* 0 = read from DEV_NET (1500 if unknown) */
	/* the LAN's IPv6 prefixes (lan-net6, --lan-net6, else DEV_LAN's global
	 * addresses at apply time): every IPv6 entry must be inside one */
	struct policy_net6 *lan6;    /* owned */
	size_t n_lan6;
};

struct policy_portal {
	char listen[POLICY_PATH_MAX];
	char advertise[POLICY_PATH_MAX];  /* HOST[:PORT] peers dial ("" = listen's) */
	char name[POLICY_NAME_MAX];  /* room name in room.metadata ("" = default) */
	enum policy_privacy privacy;
	bool privacy_set;            /* the file says privacy = … */
	char db[POLICY_PATH_MAX];    /* db = FILE: the room store ("" = none given) */
	bool guest;                  /* peers in no user share a guest class */
	char **deny;                 /* "@…=.ed25519" refused after the handshake; owned */
	size_t n_deny;
	int *deny_lines;
	/* limits (0 = none) and timeouts, in milliseconds */
	unsigned conns_per_ip, pending_handshakes, tunnels_per_peer;
	unsigned pending_per_ip;     /* 0: pending_handshakes / 32, at least 4 */
	unsigned idle_timeout_ms, handshake_timeout_ms;
	bool allow_multihop;
	/* pace: bulk leaves in batches of this much of the link (sched.h
	 * pace_ns); -1 = the scheduler's default, 0 = one chunk at a time */
	int pace_ms;
	/* metrics-max-users: user label values in the metrics before the
	 * rest is summed into "other" (0 = the default, 1000) */
	unsigned metrics_max_users;
	char http[POLICY_PATH_MAX];       /* HOST:PORT of the web server ("" = off) */
	char public_url[POLICY_PATH_MAX]; /* base of every link ("" = http://<http>) */
	char trust_proxy[POLICY_PATH_MAX]; /* IPs whose X-Forwarded-For counts ("" = none) */
	char ws_origin[POLICY_PATH_MAX];   /* Origins a WebSocket may come from ("" = any) */
};

struct policy {
	enum policy_format format;
	char file[POLICY_PATH_MAX];
	bool has_portal, has_nat;    /* which sections were present */
	struct policy_link link;
	struct policy_nat nat;
	struct policy_portal portal;
	struct policy_user *users;
	size_t n_users;
	struct policy_forward *fwds;
	size_t n_fwds;
	struct policy_diag *diags;
	size_t n_diags, n_errors;
};

/* "file:line: level: message" (or "file: level: message") into buf. */
const char *policy_diag_str(const struct policy *p, const struct policy_diag *d,
                            char *buf, size_t len);

/* Defaults: fairway's (POLICY_FMT_FAIRWAY) or Fair NAT 0.80's script
 * defaults (POLICY_FMT_FAIRNAT). */
void policy_init(struct policy *p, enum policy_format fmt);
void policy_free(struct policy *p);

/* Parse fairway's INI text / a fairnat.config text. file is used in
 * messages only. Both append diagnostics to p and then validate
 * (policy_validate). Return 0, or -EINVAL when p->n_errors > 0, -ENOMEM. */
__attribute__((warn_unused_result))
int policy_parse_ini(struct policy *p, const char *text, const char *file);
__attribute__((warn_unused_result))
int policy_parse_fairnat(struct policy *p, const char *text, size_t len, const char *file);

/* Reads path and picks the reader: a file whose first meaningful line is an
 * INI section header is fairway's; anything else is treated as a
 * fairnat.config. p is initialised here. -errno for I/O errors (then a
 * diagnostic says so too). */
__attribute__((warn_unused_result))
int policy_load(struct policy *p, const char *path);

/* Cross-checks done after parsing (both readers call it): duplicate
 * identities / addresses, overlapping forwards, guarantees above the
 * link. Exposed for tests. */
int policy_validate(struct policy *p);

/* Fills octet-only addresses from the router's LAN address and checks that
 * every user address and forward target is inside lan_ip/prefix.
 * Diagnostics carry the config line; returns -EINVAL on any error. */
int policy_resolve_lan(struct policy *p, uint32_t lan_ip, unsigned prefix);

/* True when the policy names IPv6 addresses or prefixes, MACs or LAN
 * IPv6 prefixes: the router plane then builds an `inet` table (IPv4 and
 * IPv6, maps for steering) instead of Fair NAT's `ip` one. */
bool policy_is_dual(const struct policy *p);

/* Adds one LAN IPv6 prefix, written as the router's own address on it and
 * the prefix length ("2001:db8:1::1/64"; the address is kept whole).
 * 0, -EINVAL (not that form, or link-local), -ENOMEM. */
int policy_lan6_add(struct policy *p, const char *s, int line);

/* Checks every IPv6 entry (users' and forwards') against p->nat.lan6:
 * inside one LAN prefix, not the router's own address. Diagnostics carry
 * the config line; -EINVAL on any error. */
int policy_resolve_lan6(struct policy *p);

/* IPv6 "ADDR" or "ADDR/LEN" (LEN 1..128, host bits zero). Pure. */
bool policy_parse_net6(const char *s, struct policy_net6 *out);
/* "2001:db8::1" or "2001:db8:1::/64" (plen 128 prints no "/128"). */
const char *policy_net6_str(const struct policy_net6 *n, char *buf, size_t len);
/* "aa:bb:cc:dd:ee:ff" (or with '-'); refuses multicast and all-zero. */
bool policy_parse_mac(const char *s, struct policy_mac *out);
const char *policy_mac_str(const struct policy_mac *m, char *buf, size_t len);
/* Whether two IPv6 entries share any address. */
bool policy_net6_overlap(const struct policy_net6 *a, const struct policy_net6 *b);
/* Whether b lies inside a. */
bool policy_net6_inside(const struct policy_net6 *a, const struct policy_net6 *b);

/* Rates. tc units (`bit kbit mbit gbit bps kbps mbps gbps`, 1000-based,
 * also kibit… 1024-based) when fairnat is false; Fair NAT's
 * (`kbit mbit kbps mbps bps`, 1024-based, bare number = kbit) when true.
 * Returns 0 or -EINVAL with a reason in err. */
__attribute__((warn_unused_result))
int policy_parse_rate(const char *s, bool fairnat, uint64_t *bps, char *err, size_t errlen);

/* Durations as the policy file and the command line take them: "600s",
 * "500ms", "10min" or bare milliseconds, at most UINT32_MAX ms. Pure. */
bool policy_parse_duration_ms(const char *s, unsigned *out);

/* A rate of bytes_per_s for people, in bits with tc's units: "124.51kbit",
 * "10mbit", "1.5gbit", "800bit" (at most two decimals, trailing zeros
 * dropped). The one rate formatter of every message, `info` and share
 * line; buf needs 24 bytes. Returns buf. */
const char *policy_rate_str(uint64_t bytes_per_s, char *buf, size_t len);

/* Computed rates (Fair NAT's configure(), fairnat.md §1 and §3). */
struct policy_user_rates {
	uint64_t rate_up, ceil_up, rate_down, ceil_down;
	unsigned mark;               /* first address' last octet × 10 */
};

struct policy_rates {
	uint64_t line_up, line_down; /* after RATE_SUB_PERCENT */
	uint64_t lan;                /* RATE_LAN as given */
	uint64_t local_up;           /* RATE_LOCAL_UP */
	uint64_t local_down;         /* RATE_LAN − users' download (Q6) */
	uint64_t user_up, user_down; /* the equal share */
	uint64_t users_up, users_down; /* sum over users (class 1:1) */
	uint64_t guest_up, guest_down; /* portal plane only */
	size_t n;
	struct policy_user_rates *u; /* n entries, owned */
	struct policy_diag *warn;    /* warnings ("Underfull link"), owned */
	size_t n_warn;
};

enum policy_plane { POLICY_PLANE_ROUTER, POLICY_PLANE_PORTAL };

/* Pure. Integer arithmetic exactly as the original's bash:
 *   line = RATE·(100−SUB)/100; user_up = (100−LOCAL)·line_up/(N·100);
 *   user_down = line_down/N; local_up = LOCAL·line_up/100.
 * Users with their own rate take it; the others share what is left.
 * A ceiling below the rate lowers the rate (warning "Underfull link");
 * BORROW=0 sets ceil = rate. The portal plane counts the guest class as
 * one more share when portal.guest is set. -ENOMEM or 0. */
__attribute__((warn_unused_result))
int policy_compute(const struct policy *p, enum policy_plane plane, struct policy_rates *r);
void policy_rates_free(struct policy_rates *r);

/* The user an identity belongs to, or -1. */
long policy_user_by_id(const struct policy *p, const char *id);
/* The user an IPv4 address (host order, resolved) belongs to, or -1. */
long policy_user_by_addr(const struct policy *p, uint32_t ip);

/* Writes "file:line: level: msg\n" for every diagnostic at or above
 * min_level severity (POLICY_NOTE = everything) into out (NUL-terminated,
 * truncated). Returns the full length needed. */
size_t policy_format_diags(const struct policy *p, enum policy_diag_level max_level,
                           char *out, size_t outlen);

const char *policy_leaf_name(enum policy_leaf l);
int policy_leaf_parse(const char *s, enum policy_leaf *out);
const char *policy_feature_names(unsigned features, char *buf, size_t len);

#endif

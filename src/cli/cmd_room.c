/* fairway member | invite | alias | deny | room — the operator's room
 * commands. Each builds one roomadm request (roomadm.h) and sends it to
 * the running portal over its control socket, so the change takes effect
 * at once; with no portal answering, it runs on the database itself
 * (--db FILE, else $FAIRWAY_HOME/room.db if that exists), as go-ssb-room's
 * insert-user does. --json prints the reply object as it is. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sodium.h>

#include "cli.h"
#include "cmd.h"
#include "ctl.h"
#include "keys.h"
#include "roomadm.h"
#include "store.h"
#include "util.h"

struct opts {
	const char *cmd, *sub;
	const char *ctl, *secret, *db, *role, *comment, *public_url, *ttl, *room_id;
	bool json, all;
	char *pos[3];
	int npos;
};

__attribute__((format(printf, 2, 3)))
static int usage_err(const struct opts *o, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fairway %s: ", o->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  (fairway %s --help)\n", o->cmd);
	return EXIT_USAGE;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "secret", required_argument, NULL, 's' },
		{ "db", required_argument, NULL, 'd' },
		{ "role", required_argument, NULL, 'r' },
		{ "comment", required_argument, NULL, 'm' },
		{ "public-url", required_argument, NULL, 'u' },
		{ "ttl", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "room-id", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	o->cmd = argv[0];
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o->ctl = optarg; break;
		case 's': o->secret = optarg; break;
		case 'd': o->db = optarg; break;
		case 'r': o->role = optarg; break;
		case 'm': o->comment = optarg; break;
		case 'u': o->public_url = optarg; break;
		case 't': o->ttl = optarg; break;
		case 'a': o->all = true; break;
		case 'R': o->room_id = optarg; break;
		case 'j': o->json = true; break;
		default: return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_err(o, "%s", "which operation? (fairway CMD --help)");
	o->sub = argv[optind++];
	for (; optind < argc; optind++) {
		if (o->npos == 3)
			return usage_err(o, "unexpected argument '%s'", argv[optind]);
		o->pos[o->npos++] = argv[optind];
	}
	return 0;
}

/* npos exactly n, else a usage error naming what is wanted. */
static int want(const struct opts *o, int n, const char *what)
{
	char msg[160];

	if (o->npos == n)
		return 0;
	snprintf(msg, sizeof(msg), "%s %s wants %s", o->cmd, o->sub, what);
	if (o->npos > n)
		return usage_err(o, "%s (unexpected extra arguments)", msg);
	return usage_err(o, "%s", msg);
}

static int check_id(const struct opts *o, const char *id)
{
	uint8_t pk[32];

	if (keys_id_parse(id, strlen(id), pk) != 0)
		return usage_err(o, "'%s' is not a feed id (@<base64 of 32 bytes>=.ed25519)", id);
	return 0;
}

static int check_role(const struct opts *o, const char *r)
{
	if (store_role_parse(r) == STORE_ROLE_NONE)
		return usage_err(o, "--role '%s' is not member, moderator or admin", r);
	return 0;
}

/* The request for o, or NULL with *rc set (a usage error). */
static json_t *build(const struct opts *o, int *rc)
{
	const char *c = o->cmd, *s = o->sub;
	json_t *r = NULL;
	char op[32];

	*rc = 0;
	snprintf(op, sizeof(op), "%s.%s", c, s);
	if (strcmp(c, "member") == 0) {
		if (strcmp(s, "list") == 0) {
			*rc = want(o, 0, "no arguments");
		} else if (strcmp(s, "add") == 0 || strcmp(s, "rm") == 0 || strcmp(s, "role") == 0) {
			const char *role = o->role;

			/* `member role ID admin` reads as well as `--role admin` */
			if (strcmp(s, "role") == 0 && role == NULL && o->npos == 2)
				role = o->pos[1];
			else if ((*rc = want(o, 1, "one identity (@…=.ed25519)")) != 0)
				return NULL;
			if (strcmp(s, "role") == 0 && role == NULL)
				*rc = usage_err(o, "%s", "member role ID wants --role member|moderator|admin");
			if (*rc == 0 && strcmp(s, "rm") == 0 && role != NULL)
				*rc = usage_err(o, "%s", "member rm takes no --role");
			if (*rc == 0)
				*rc = check_id(o, o->pos[0]);
			if (*rc == 0 && role != NULL)
				*rc = check_role(o, role);
			if (*rc == 0) {
				r = json_pack("{s:s,s:s,s:s}", "cmd", "room", "op", op, "id", o->pos[0]);
				if (role != NULL)
					json_object_set_new(r, "role", json_string(role));
			}
			return r;
		} else {
			*rc = usage_err(o, "'%s' is not add, rm, list or role", s);
		}
	} else if (strcmp(c, "invite") == 0) {
		if (strcmp(s, "create") == 0) {
			unsigned ms = 0;

			if ((*rc = want(o, 0, "no arguments (--ttl DURATION, --public-url URL)")) != 0)
				return NULL;
			if (o->ttl != NULL && strcmp(o->ttl, "0") != 0 &&
			    (*rc = cli_parse_duration("invite", "--ttl", o->ttl, UINT32_MAX, &ms)) != 0)
				return NULL;
			if (o->public_url != NULL && strncmp(o->public_url, "http://", 7) != 0 &&
			    strncmp(o->public_url, "https://", 8) != 0) {
				*rc = usage_err(o, "--public-url '%s' is not an http:// or https:// URL", o->public_url);
				return NULL;
			}
			r = json_pack("{s:s,s:s}", "cmd", "room", "op", op);
			if (o->ttl != NULL)
				json_object_set_new(r, "ttl", json_integer(ms / 1000));
			return r;
		} else if (strcmp(s, "list") == 0) {
			if ((*rc = want(o, 0, "no arguments (--all)")) == 0)
				r = json_pack("{s:s,s:s,s:b}", "cmd", "room", "op", op, "all", o->all);
			return r;
		} else if (strcmp(s, "revoke") == 0) {
			char *end;
			long long n;

			if ((*rc = want(o, 1, "the invite's number (from invite list)")) != 0)
				return NULL;
			errno = 0;
			n = strtoll(o->pos[0], &end, 10);
			if (errno != 0 || *end != '\0' || n <= 0 || o->pos[0][0] == '\0') {
				*rc = usage_err(o, "'%s' is not an invite number (see: fairway invite list)", o->pos[0]);
				return NULL;
			}
			return json_pack("{s:s,s:s,s:I}", "cmd", "room", "op", op, "n", (json_int_t)n);
		}
		*rc = usage_err(o, "'%s' is not create, list or revoke", s);
		return NULL;
	} else if (strcmp(c, "alias") == 0) {
		if (strcmp(s, "list") == 0) {
			*rc = want(o, 0, "no arguments");
		} else if (strcmp(s, "rm") == 0) {
			if ((*rc = want(o, 1, "an alias name")) != 0)
				return NULL;
			if (!store_alias_valid(o->pos[0], strlen(o->pos[0]))) {
				*rc = usage_err(o, "'%s' is not an alias name ([a-z0-9], 1 to 63 of them)", o->pos[0]);
				return NULL;
			}
			return json_pack("{s:s,s:s,s:s}", "cmd", "room", "op", op, "name", o->pos[0]);
		} else {
			*rc = usage_err(o, "'%s' is not list or rm", s);
		}
	} else if (strcmp(c, "deny") == 0) {
		if (strcmp(s, "list") == 0) {
			*rc = want(o, 0, "no arguments");
		} else if (strcmp(s, "add") == 0 || strcmp(s, "rm") == 0) {
			if ((*rc = want(o, 1, "one identity (@…=.ed25519)")) != 0 ||
			    (*rc = check_id(o, o->pos[0])) != 0)
				return NULL;
			if (o->comment != NULL && strcmp(s, "rm") == 0) {
				*rc = usage_err(o, "%s", "deny rm takes no --comment");
				return NULL;
			}
			if (o->comment != NULL && strlen(o->comment) > STORE_COMMENT_MAX) {
				*rc = usage_err(o, "--comment is longer than %d bytes", STORE_COMMENT_MAX);
				return NULL;
			}
			r = json_pack("{s:s,s:s,s:s}", "cmd", "room", "op", op, "id", o->pos[0]);
			if (o->comment != NULL)
				json_object_set_new(r, "comment", json_string(o->comment));
			return r;
		} else {
			*rc = usage_err(o, "'%s' is not add, rm or list", s);
		}
	} else if (strcmp(c, "room") == 0) {
		if (strcmp(s, "show") == 0) {
			*rc = want(o, 0, "no arguments");
		} else if (strcmp(s, "set") == 0) {
			if ((*rc = want(o, 2, "privacy|name|description VALUE")) != 0)
				return NULL;
			if (strcmp(o->pos[0], "privacy") == 0 && store_mode_parse(o->pos[1]) == 0) {
				*rc = usage_err(o, "privacy '%s' is not open, community or restricted", o->pos[1]);
				return NULL;
			}
			if (strcmp(o->pos[0], "privacy") != 0 && strcmp(o->pos[0], "name") != 0 &&
			    strcmp(o->pos[0], "description") != 0) {
				*rc = usage_err(o, "room set '%s': set privacy, name or description", o->pos[0]);
				return NULL;
			}
			return json_pack("{s:s,s:s,s:s,s:s}", "cmd", "room", "op", op, "what", o->pos[0],
			                 "value", o->pos[1]);
		} else {
			*rc = usage_err(o, "'%s' is not set, show or import", s);
		}
	}
	if (*rc == 0)
		r = json_pack("{s:s,s:s}", "cmd", "room", "op", op);
	return r;
}

static const char *when(long long t, char *buf, size_t len)
{
	return t == 0 ? "never" : util_utc_str(t, buf, len);
}

static long long num(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static const char *txt(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static void print_human(const struct opts *o, const json_t *r)
{
	const char *c = o->cmd, *s = o->sub;
	char b1[32], b2[32];
	size_t i;
	json_t *e;

	if (strcmp(c, "member") == 0 && strcmp(s, "list") == 0) {
		json_array_foreach(json_object_get(r, "members"), i, e)
			printf("%-9s %s  added %s\n", txt(e, "role"), txt(e, "id"), when(num(e, "added"), b1, sizeof(b1)));
	} else if (strcmp(c, "member") == 0) {
		printf("%s %s\n", o->pos[0],
		       strcmp(s, "add") == 0 ? "is a member now" : strcmp(s, "rm") == 0 ? "is no longer a member"
		                                                                        : "has its new role");
	} else if (strcmp(c, "invite") == 0 && strcmp(s, "create") == 0) {
		printf("%s\n", txt(r, "url"));   /* first line: the link to share */
		printf("invite %lld, expires %s\n", num(r, "n"), when(num(r, "expires"), b1, sizeof(b1)));
	} else if (strcmp(c, "invite") == 0 && strcmp(s, "list") == 0) {
		json_array_foreach(json_object_get(r, "invites"), i, e)
			printf("%-5lld %-8s created %s  expires %s%s\n", num(e, "n"), txt(e, "state"),
			       when(num(e, "created"), b1, sizeof(b1)), when(num(e, "expires"), b2, sizeof(b2)),
			       num(e, "used_by") ? "  (used)" : "");
	} else if (strcmp(c, "alias") == 0 && strcmp(s, "list") == 0) {
		json_array_foreach(json_object_get(r, "aliases"), i, e)
			printf("%-20s %s\n", txt(e, "name"), txt(e, "owner"));
	} else if (strcmp(c, "deny") == 0 && strcmp(s, "list") == 0) {
		json_array_foreach(json_object_get(r, "denied"), i, e)
			printf("%s  %s%s%s\n", txt(e, "id"), when(num(e, "created"), b1, sizeof(b1)),
			       txt(e, "comment")[0] ? "  " : "", txt(e, "comment"));
	} else if (strcmp(c, "room") == 0 && strcmp(s, "show") == 0) {
		printf("privacy     %s\nname        %s\ndescription %s\nmembers     %lld\n", txt(r, "privacy"),
		       txt(r, "name"), txt(r, "description"), num(r, "members"));
	}
}

/* ---- fairway room import PATH: go-ssb-room's roomdb ---- */

struct verify_ctx {
	char room[KEYS_ID_LEN + 1];
};

/* =room-alias-registration:${roomId}:${userId}:${alias}, as clients check */
static bool alias_verify(void *ctx, const char *name, const uint8_t owner[32], const uint8_t sig[64])
{
	struct verify_ctx *v = ctx;
	char id[KEYS_ID_LEN + 1], *msg = NULL;
	bool ok;

	keys_id_format(id, owner);
	if (asprintf(&msg, "=room-alias-registration:%s:%s:%s", v->room, id, name) < 0)
		return false;
	ok = crypto_sign_verify_detached(sig, (const uint8_t *)msg, strlen(msg), owner) == 0;
	free(msg);
	return ok;
}

static int room_import(struct opts *o)
{
	char roomdb[4096], secret[4096], db_def[4096], err[512], *slash;
	struct store_import_stats n;
	struct verify_ctx v;
	struct store *st = NULL;
	struct stat sb;
	uint8_t pk[32];
	int rc;

	if ((rc = want(o, 1, "the go-ssb-room repo directory (or its roomdb file)")) != 0)
		return rc;
	/* PATH: the repo (PATH/roomdb, PATH/secret) or the roomdb itself */
	if (stat(o->pos[0], &sb) != 0) {
		fprintf(stderr, "fairway room import: %s: %s\n", o->pos[0], strerror(errno));
		return EXIT_RUNTIME;
	}
	snprintf(roomdb, sizeof roomdb, S_ISDIR(sb.st_mode) ? "%s/roomdb" : "%s", o->pos[0]);
	snprintf(secret, sizeof secret, "%s", roomdb);
	slash = strrchr(secret, '/');
	snprintf(slash != NULL ? slash + 1 : secret, sizeof secret - (size_t)(slash != NULL ? slash + 1 - secret : 0),
	         "secret");
	/* the room's id, for the aliases' signatures: --room-id, else the
	 * repo's secret (its public part) */
	if (o->room_id != NULL) {
		if ((rc = check_id(o, o->room_id)) != 0)
			return rc;
		snprintf(v.room, sizeof v.room, "%s", o->room_id);
	} else {
		struct keys k;

		if (keys_load_file(secret, &k, err, sizeof err) != 0) {
			fprintf(stderr, "fairway room import: the room's id is needed to check the aliases' "
			        "signatures: %s (or give --room-id ID)\n", err);
			return EXIT_USAGE;
		}
		memcpy(pk, k.pk, 32);
		keys_wipe(&k);
		keys_id_format(v.room, pk);
	}
	/* straight into the database: a running portal would not see it */
	if (o->ctl != NULL && access(o->ctl, F_OK) == 0) {
		json_t *ping = json_pack("{s:s}", "cmd", "info");
		json_t *r = ctl_request_json(o->ctl, ping, err, sizeof err);

		json_decref(ping);
		if (r != NULL) {
			json_decref(r);
			fprintf(stderr, "fairway room import: a portal is running (%s): stop it first, "
			        "import writes the database directly\n", o->ctl);
			return EXIT_RUNTIME;
		}
	}
	if (o->db == NULL && cli_default_db(db_def, sizeof db_def) == 0)
		o->db = db_def;
	if (o->db == NULL || store_open(o->db, &st, err, sizeof err) != 0 ||
	    store_lock(st, o->db, err, sizeof err) != 0) {
		store_close(st);
		fprintf(stderr, "fairway room import: %s\n", o->db ? err : "no database path");
		return EXIT_RUNTIME;
	}
	rc = store_import_gsr(st, roomdb, alias_verify, &v, (int64_t)time(NULL), &n, err, sizeof err);
	store_close(st);
	if (rc != 0) {
		fprintf(stderr, "fairway room import: %s\n", err);
		return rc == -EILSEQ || rc == -ENOTEMPTY ? EXIT_USAGE : EXIT_RUNTIME;
	}
	if (o->json)
		printf("{\"ok\":true,\"members\":%zu,\"aliases\":%zu,\"aliases_refused\":%zu,"
		       "\"denied\":%zu,\"invites\":%zu,\"notices\":%zu,\"privacy\":\"%s\","
		       "\"sessions_skipped\":%zu,\"passwords_skipped\":%zu}\n",
		       n.members, n.aliases, n.aliases_bad, n.denied, n.invites, n.notices,
		       store_mode_name(n.mode), n.sessions_skipped, n.passwords_skipped);
	else
		printf("imported from %s into %s: %zu members, %zu aliases (%zu refused: bad name or "
		       "signature), %zu denied keys, %zu unused invites, %zu notices, privacy %s\n"
		       "not carried over: %zu web sessions (members sign in again), %zu fallback "
		       "passwords (fairway signs in with SSB only)\n",
		       roomdb, o->db, n.members, n.aliases, n.aliases_bad, n.denied, n.invites, n.notices,
		       store_mode_name(n.mode), n.sessions_skipped, n.passwords_skipped);
	return EXIT_OK;
}

static int run(int argc, char **argv)
{
	struct opts o = { 0 };
	char ctl_def[4096], db_def[4096], err[512];
	struct store *st = NULL;
	json_t *req, *r = NULL;
	int rc = parse(argc, argv, &o);

	if (rc != 0)
		return rc;
	if (strcmp(o.cmd, "room") == 0 && strcmp(o.sub, "import") == 0) {
		if (o.ctl == NULL && ctl_default_path(o.secret, ctl_def, sizeof(ctl_def)) == 0)
			o.ctl = ctl_def;
		return room_import(&o);
	}
	req = build(&o, &rc);
	if (req == NULL)
		return rc != 0 ? rc : EXIT_RUNTIME;
	if (o.ctl == NULL && ctl_default_path(o.secret, ctl_def, sizeof(ctl_def)) == 0)
		o.ctl = ctl_def;
	/* The running portal first: its in-memory state must see the change.
	 * Only if none answers, the database file itself. */
	if (o.ctl != NULL && access(o.ctl, F_OK) == 0)
		r = ctl_request_json(o.ctl, req, err, sizeof(err));
	if (r != NULL && o.db != NULL)
		fprintf(stderr, "fairway %s: a portal is running (%s): the change went through it, "
		        "not straight to --db\n", o.cmd, o.ctl);
	if (r == NULL) {
		const char *db = o.db;
		struct roomadm_ctx ctx = { .public_url = o.public_url, .now = (int64_t)time(NULL) };

		if (db == NULL && cli_default_db(db_def, sizeof(db_def)) == 0 && access(db_def, F_OK) == 0)
			db = db_def;
		if (db == NULL) {
			fprintf(stderr, "fairway %s: no portal answers on %s and no room database: "
			        "give --db FILE (it is created if missing)\n", o.cmd, o.ctl ? o.ctl : "(none)");
			json_decref(req);
			return EXIT_RUNTIME;
		}
		if (store_open(db, &st, err, sizeof(err)) != 0 || store_lock(st, db, err, sizeof(err)) != 0) {
			store_close(st);
			fprintf(stderr, "fairway %s: %s\n", o.cmd, err);
			json_decref(req);
			return EXIT_RUNTIME;
		}
		r = roomadm_exec(st, req, &ctx, NULL);
		store_close(st);
	} else if (o.public_url != NULL && strcmp(o.cmd, "invite") == 0) {
		/* the portal knows its public URL best; --public-url only fills in */
		const char *url = json_string_value(json_object_get(r, "url"));

		if (url != NULL && url[0] == '/') {
			char *full = NULL;

			if (asprintf(&full, "%s%s", o.public_url, url) > 0) {
				json_object_set_new(r, "url", json_string(full));
				json_object_set_new(r, "public_url", json_true());
			}
			free(full);
		}
	}
	json_decref(req);
	if (r == NULL) {
		fprintf(stderr, "fairway %s: out of memory\n", o.cmd);
		return EXIT_RUNTIME;
	}
	rc = json_is_true(json_object_get(r, "ok")) ? EXIT_OK
	   : json_is_true(json_object_get(r, "usage")) ? EXIT_USAGE : EXIT_RUNTIME;
	if (o.json) {
		char *t = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);

		printf("%s\n", t != NULL ? t : "{}");
		free(t);
	} else if (rc == 0) {
		print_human(&o, r);
	}
	if (rc != 0)
		fprintf(stderr, "fairway %s %s: %s\n", o.cmd, o.sub, txt(r, "error"));
	else if (strcmp(o.cmd, "invite") == 0 && strcmp(o.sub, "create") == 0 &&
	         !json_is_true(json_object_get(r, "public_url")))
		fprintf(stderr, "fairway invite: no public URL known (portal --public-url, or give "
		        "--public-url URL here): the link above is relative\n");
	json_decref(r);
	return rc;
}

int cmd_member(int argc, char **argv) { return run(argc, argv); }
int cmd_invite(int argc, char **argv) { return run(argc, argv); }
int cmd_alias(int argc, char **argv) { return run(argc, argv); }
int cmd_deny(int argc, char **argv) { return run(argc, argv); }
int cmd_room(int argc, char **argv) { return run(argc, argv); }

/* muxrpc — request table, streams and method dispatch (protocol.md §5).
 *
 * Every call in progress is a struct mrpc_stream, in one of two hash
 * tables keyed by the positive request number: `out` for calls we started
 * (the peer answers on -n), `in` for calls the peer started (it talks on
 * +n, we answer on -n). A stream stays in its table until both sides have
 * sent END; an async call counts as one END each way (the request, the
 * reply). All streams of a session are also on one list so the session
 * can be torn down without walking the tables.
 *
 * Callbacks may call back into the session (end or send on any stream,
 * reply, even mrpc_free). Two counters make that safe: s->busy holds a
 * stream's memory while a callback of it runs, m->depth holds the
 * session's while any entry point is on the stack. Freeing is deferred to
 * whoever drops the last hold. */
#include "muxrpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Compact JSON in insertion order: JS key order (name, args, type) is part
 * of the byte-exact vectors in §5.8. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
#define STAB_MIN_CAP 16

struct mrpc_method {
	char *name;  /* dotted: "tunnel.connect" */
	enum mrpc_kind kind;
	mrpc_handler_fn *fn;
	void *ud;
};

/* A process has a few dozen methods: a linear scan per request is cheaper
 * than keeping an index in step. */
struct mrpc_api {
	struct mrpc_method *v;
	size_t n, cap;
};

/* Open addressing, linear probing, backward-shift deletion; the capacity
 * is a power of two and at most 3/4 full so a probe always meets a hole. */
struct stab {
	struct mrpc_stream **slot;
	size_t cap, count;
};

struct mrpc_stream {
	struct mrpc *m;
	struct mrpc_stream *prev, *next;  /* m->all */
	int32_t req;                      /* positive, as numbered by the starter */
	enum mrpc_kind kind;
	bool ours;                        /* in m->out (we started it) */
	bool linked;                      /* in a table and on m->all */
	bool local_ended, remote_ended;
	bool end_reported;                /* on_end delivered (at most once) */
	bool rejected;                    /* tombstone of a refused stream request */
	bool freed;                       /* on_free delivered; memory waits for busy == 0 */
	bool lingering;                   /* on m->linger: we ended, the peer has not */
	bool half_close;                  /* the peer's END ends only its direction */
	struct mrpc_stream *lprev, *lnext;
	unsigned busy;
	struct mrpc_stream_cbs cbs;
	void *ud;
};

struct mrpc {
	const struct mrpc_api *api;
	mrpc_send_fn *send;
	void *io;
	struct stab out, in;
	struct mrpc_stream *all;
	struct mrpc_stream *linger_head, *linger_tail;  /* oldest first */
	size_t nlinger;
	int32_t next_req;
	unsigned depth;
	bool closed;        /* peer goodbye or mrpc_free: all streams gone */
	bool free_pending;  /* mrpc_free ran inside a callback */
	bool goodbye_sent;
};

const char *mrpc_kind_name(enum mrpc_kind k)
{
	switch (k) {
	case MRPC_ASYNC: return "async";
	case MRPC_SOURCE: return "source";
	case MRPC_SINK: return "sink";
	case MRPC_DUPLEX: return "duplex";
	}
	return "unknown";
}

/* ---- hash table ---- */

/* Multiply and fold: sequential request numbers, the common case, land
 * far apart even while the table is small. */
static size_t stab_home(int32_t req, size_t cap)
{
	uint32_t h = (uint32_t)req * 0x9e3779b1u;

	return (h ^ (h >> 16)) & (cap - 1);
}

static struct mrpc_stream *stab_get(const struct stab *t, int32_t req)
{
	size_t i;

	if (t->count == 0)
		return NULL;
	for (i = stab_home(req, t->cap); t->slot[i] != NULL; i = (i + 1) & (t->cap - 1))
		if (t->slot[i]->req == req)
			return t->slot[i];
	return NULL;
}

static void stab_place(struct mrpc_stream **slot, size_t cap, struct mrpc_stream *s)
{
	size_t i = stab_home(s->req, cap);

	while (slot[i] != NULL)
		i = (i + 1) & (cap - 1);
	slot[i] = s;
}

static int stab_add(struct stab *t, struct mrpc_stream *s)
{
	if ((t->count + 1) * 4 > t->cap * 3) {
		size_t ncap = t->cap ? t->cap * 2 : STAB_MIN_CAP;
		struct mrpc_stream **ns = calloc(ncap, sizeof(*ns));

		if (ns == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < t->cap; i++)
			if (t->slot[i] != NULL)
				stab_place(ns, ncap, t->slot[i]);
		free(t->slot);
		t->slot = ns;
		t->cap = ncap;
	}
	stab_place(t->slot, t->cap, s);
	t->count++;
	return 0;
}

static void stab_del(struct stab *t, const struct mrpc_stream *s)
{
	size_t mask = t->cap - 1, i, j, k;

	for (i = stab_home(s->req, t->cap); t->slot[i] != s; i = (i + 1) & mask)
		if (t->slot[i] == NULL)
			return;
	t->slot[i] = NULL;
	t->count--;
	/* Pull later members of the probe run back into the hole unless their
	 * home lies cyclically in (i, j]: lookups never cross a hole. */
	for (j = (i + 1) & mask; t->slot[j] != NULL; j = (j + 1) & mask) {
		k = stab_home(t->slot[j]->req, t->cap);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->slot[i] = t->slot[j];
		t->slot[j] = NULL;
		i = j;
	}
}

static void stab_clear(struct stab *t)
{
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* ---- method table ---- */

struct mrpc_api *mrpc_api_new(void)
{
	return calloc(1, sizeof(struct mrpc_api));
}

void mrpc_api_free(struct mrpc_api *api)
{
	if (api == NULL)
		return;
	for (size_t i = 0; i < api->n; i++)
		free(api->v[i].name);
	free(api->v);
	free(api);
}

static bool dotted_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && name[0] != '.' && name[n - 1] != '.' && strstr(name, "..") == NULL;
}

/* "a.b" clashes with "a.b" and with "a.b.c" or "a": the manifest cannot
 * hold a method and a namespace under one key. */
static bool names_clash(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;

	if (memcmp(a, b, n) != 0)
		return false;
	return la == lb || (la < lb ? b[la] == '.' : a[lb] == '.');
}

int mrpc_api_add(struct mrpc_api *api, const char *name, enum mrpc_kind kind,
                 mrpc_handler_fn *fn, void *ud)
{
	struct mrpc_method *mt;

	if (api == NULL || name == NULL || fn == NULL || !dotted_name_ok(name) ||
	    (unsigned)kind > MRPC_DUPLEX)
		return -EINVAL;
	for (size_t i = 0; i < api->n; i++)
		if (names_clash(api->v[i].name, name))
			return -EEXIST;
	if (api->n == api->cap) {
		size_t ncap = api->cap ? api->cap * 2 : 8;
		struct mrpc_method *nv = realloc(api->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		api->v = nv;
		api->cap = ncap;
	}
	mt = &api->v[api->n];
	mt->name = strdup(name);
	if (mt->name == NULL)
		return -ENOMEM;
	mt->kind = kind;
	mt->fn = fn;
	mt->ud = ud;
	api->n++;
	return 0;
}

json_t *mrpc_api_manifest(const struct mrpc_api *api)
{
	json_t *root = json_object();

	if (root == NULL || api == NULL)
		return root;
	for (size_t i = 0; i < api->n; i++) {
		const char *p = api->v[i].name, *dot;
		json_t *obj = root, *child;
		char *seg;

		/* {"tunnel":{"connect":"duplex"}}: one object per namespace */
		for (;;) {
			dot = strchr(p, '.');
			seg = strndup(p, dot ? (size_t)(dot - p) : strlen(p));
			if (seg == NULL)
				goto fail;
			if (dot == NULL) {
				int rc = json_object_set_new(obj, seg, json_string(mrpc_kind_name(api->v[i].kind)));

				free(seg);
				if (rc < 0)
					goto fail;
				break;
			}
			child = json_object_get(obj, seg);
			if (child == NULL) {
				child = json_object();
				if (json_object_set_new(obj, seg, child) < 0) {
					free(seg);
					goto fail;
				}
			}
			free(seg);
			obj = child;
			p = dot + 1;
		}
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

/* Does the request's name (["tunnel","connect"], or JS's lone "whoami")
 * denote this dotted method? Each element is one path segment, as in JS
 * muxrpc's util.get: ["tunnel.connect"] is not tunnel.connect. */
static bool name_matches(const char *dotted, const json_t *name)
{
	const json_t *el;
	size_t i, n;

	if (json_is_string(name))
		return strlen(dotted) == json_string_length(name) && strchr(dotted, '.') == NULL &&
		       memcmp(dotted, json_string_value(name), json_string_length(name)) == 0;
	if (!json_is_array(name) || json_array_size(name) == 0)
		return false;
	json_array_foreach(name, i, el) {
		const char *dot = strchr(dotted, '.');
		size_t seg = dot ? (size_t)(dot - dotted) : strlen(dotted);

		if (!json_is_string(el))
			return false;
		n = json_string_length(el);
		if (n != seg || memcmp(dotted, json_string_value(el), n) != 0)
			return false;
		if (i + 1 == json_array_size(name))
			return dot == NULL;
		if (dot == NULL)
			return false;
		dotted = dot + 1;
	}
	return false;
}

static const struct mrpc_method *api_find(const struct mrpc_api *api, const json_t *name)
{
	if (api == NULL)
		return NULL;
	for (size_t i = 0; i < api->n; i++)
		if (name_matches(api->v[i].name, name))
			return &api->v[i];
	return NULL;
}

/* ---- JS string conversion for error messages ---- */

/* What JS's `${v}` prints, for the error wording peers match on:
 * arrays join with "," and hold null as "", objects are "[object Object]". */
static void js_print(FILE *f, const json_t *v, bool in_array)
{
	const json_t *el;
	size_t i;

	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		fwrite(json_string_value(v), 1, json_string_length(v), f);
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, el) {
			if (i > 0)
				fputc(',', f);
			js_print(f, el, true);
		}
		break;
	case JSON_OBJECT:
		fputs("[object Object]", f);
		break;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		fprintf(f, "%.17g", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	case JSON_NULL:
		if (!in_array)
			fputs(v ? "null" : "undefined", f);
		break;
	}
}

/* printf-style message with one JS-printed value in place of the %s. */
static char *js_format(const char *before, const json_t *v, bool as_array, const char *after)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	if (f == NULL)
		return NULL;
	fputs(before, f);
	js_print(f, v, as_array);
	fputs(after, f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* A peer-chosen name, safe for one log line. */
static void log_clean(char out[static 65], const char *s)
{
	size_t i;

	for (i = 0; i < 64 && s != NULL && s[i] != '\0'; i++)
		out[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	out[i] = '\0';
}

/* ---- errors ---- */

json_t *mrpc_error_object(const char *message)
{
	json_t *msg = json_string(message ? message : "");

	/* json_string refuses invalid UTF-8; the peer must still get an error */
	if (msg == NULL)
		msg = json_string("invalid error message");
	return json_pack("{s:o, s:s, s:s}", "message", msg, "name", "Error", "stack", "");
}

char *mrpc_error_message(const uint8_t *body, size_t len)
{
	json_t *v = NULL;
	const char *msg = NULL;
	char *out;

	if (body != NULL && len > 0)
		v = json_loadb((const char *)body, len, JSON_DECODE_ANY, NULL);
	if (json_is_object(v))
		msg = json_string_value(json_object_get(v, "message"));
	else if (json_is_string(v))
		msg = json_string_value(v);
	out = strdup(msg ? msg : "unknown error");
	json_decref(v);
	return out;
}

/* ---- sending ---- */

static int send_packet(struct mrpc *m, uint8_t flags, int32_t req, const uint8_t *body, size_t len)
{
	uint8_t hdr[PSC_HEADER_BYTES];
	int rc;

	/* A zero length reads as goodbye to JS packet-stream-codec. */
	if (len == 0 || len > UINT32_MAX)
		return -EINVAL;
	psc_encode_header(hdr, flags, (uint32_t)len, req);
	rc = m->send(m->io, hdr, body, len);
	if (rc < 0)
		log_debug("muxrpc: send on req %d failed: %s", (int)req, strerror(-rc));
	return rc;
}

/* flags carries STREAM/END; the type bits are added here. */
static int send_json(struct mrpc *m, uint8_t flags, int32_t req, const json_t *v)
{
	size_t n = json_dumpb(v, NULL, 0, DUMP_FLAGS);
	char *buf;
	int rc;

	if (n == 0)
		return -ENOMEM;
	buf = malloc(n);
	if (buf == NULL)
		return -ENOMEM;
	if (json_dumpb(v, buf, n, DUMP_FLAGS) != n)
		rc = -ENOMEM;
	else
		rc = send_packet(m, flags | PSC_JSON, req, (const uint8_t *)buf, n);
	free(buf);
	return rc;
}

/* As packet-stream-codec encodes a value: a string travels as type 1 text,
 * anything else as JSON. The empty string goes as JSON "" instead, since an
 * empty type-1 body would be a zero-length packet. */
static int send_value(struct mrpc *m, uint8_t flags, int32_t req, const json_t *v)
{
	if (json_is_string(v) && json_string_length(v) > 0)
		return send_packet(m, flags | PSC_STRING, req,
		                   (const uint8_t *)json_string_value(v), json_string_length(v));
	return send_json(m, flags, req, v);
}

static int send_end_true(struct mrpc *m, int32_t req)
{
	static const uint8_t t[4] = { 't', 'r', 'u', 'e' };

	return send_packet(m, PSC_FLAG_STREAM | PSC_FLAG_END | PSC_JSON, req, t, sizeof(t));
}

/* ---- stream life cycle ---- */

/* §5.2: +n on traffic of a call we started, -n on traffic answering one. */
static int32_t wire_req(const struct mrpc_stream *s)
{
	return s->ours ? s->req : -s->req;
}

static struct mrpc_stream *stream_new(struct mrpc *m, int32_t req, bool ours, enum mrpc_kind kind)
{
	struct mrpc_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->m = m;
	s->req = req;
	s->ours = ours;
	s->kind = kind;
	if (stab_add(ours ? &m->out : &m->in, s) < 0) {
		free(s);
		return NULL;
	}
	s->linked = true;
	s->next = m->all;
	if (m->all != NULL)
		m->all->prev = s;
	m->all = s;
	return s;
}

/* Streams we have ended whose END from the peer has not come. JS muxrpc
 * never answers the END of a duplex it opened (§5.4 says every END is
 * answered), so on a long-lived connection such records would pile up
 * until it closes, one per tunnel. Above MRPC_LINGER_MAX the oldest is
 * given up, from the next incoming packet (where callbacks are expected):
 * on_end("the peer did not end the stream"), on_free, and a late END or
 * item for it is then a packet for an unknown stream, ignored. */
static void linger_add(struct mrpc *m, struct mrpc_stream *s)
{
	if (s->lingering || s->remote_ended)
		return;
	s->lingering = true;
	s->lnext = NULL;
	s->lprev = m->linger_tail;
	if (m->linger_tail != NULL)
		m->linger_tail->lnext = s;
	else
		m->linger_head = s;
	m->linger_tail = s;
	m->nlinger++;
}

static void linger_del(struct mrpc_stream *s)
{
	struct mrpc *m = s->m;

	if (!s->lingering)
		return;
	s->lingering = false;
	if (s->lprev != NULL)
		s->lprev->lnext = s->lnext;
	else
		m->linger_head = s->lnext;
	if (s->lnext != NULL)
		s->lnext->lprev = s->lprev;
	else
		m->linger_tail = s->lprev;
	s->lprev = s->lnext = NULL;
	m->nlinger--;
}

static void stream_unlink(struct mrpc_stream *s)
{
	struct mrpc *m = s->m;

	linger_del(s);
	if (!s->linked)
		return;
	s->linked = false;
	stab_del(s->ours ? &m->out : &m->in, s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		m->all = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* Leaves the session for good: out of the tables, on_free, and the memory
 * goes now or when the last hold is dropped. */
static void stream_finish(struct mrpc_stream *s)
{
	if (s->freed)
		return;
	s->freed = true;
	stream_unlink(s);
	if (s->cbs.on_free != NULL) {
		s->busy++;
		s->cbs.on_free(s, s->ud);
		s->busy--;
	}
	if (s->busy == 0)
		free(s);
}

/* Call after a state change; finishes the stream when both sides are done
 * and no callback of it is running. */
static void stream_check(struct mrpc_stream *s)
{
	if (s->busy == 0 && !s->freed && s->local_ended && s->remote_ended)
		stream_finish(s);
}

/* Hold s across a callback: whatever the callback ends or frees, the
 * memory stays until the matching drop. */
static void stream_hold(struct mrpc_stream *s)
{
	s->busy++;
}

static void stream_drop(struct mrpc_stream *s)
{
	if (--s->busy > 0)
		return;
	if (s->freed)
		free(s);
	else
		stream_check(s);
}

static void report_end(struct mrpc_stream *s, const char *err)
{
	if (s->end_reported || s->rejected)
		return;
	s->end_reported = true;
	if (s->cbs.on_end != NULL)
		s->cbs.on_end(s, err, s->ud);
}

/* ---- session ---- */

struct mrpc *mrpc_new(const struct mrpc_cfg *cfg)
{
	struct mrpc *m;

	if (cfg == NULL || cfg->send == NULL)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->api = cfg->api;
	m->send = cfg->send;
	m->io = cfg->io;
	m->next_req = 1;
	return m;
}

void *mrpc_io(const struct mrpc *m)
{
	return m->io;
}

size_t mrpc_open_count(const struct mrpc *m)
{
	return m->out.count + m->in.count;
}

static void session_enter(struct mrpc *m)
{
	m->depth++;
}

static void session_leave(struct mrpc *m)
{
	if (--m->depth > 0 || !m->free_pending)
		return;
	stab_clear(&m->out);
	stab_clear(&m->in);
	free(m);
}

/* Ends every stream: on_end("session closed") for all, then on_free for
 * all. Every on_end runs while all streams are still valid, so a callback
 * that ends a sibling (a splice closing its other half) is safe; those
 * calls are -EPIPE no-ops now, and nothing is freed until the second pass. */
static void close_all(struct mrpc *m)
{
	struct mrpc_stream *list = m->all, *s, *next;

	m->closed = true;
	m->all = NULL;
	stab_clear(&m->out);
	stab_clear(&m->in);
	while (m->linger_head != NULL)
		linger_del(m->linger_head);
	for (s = list; s != NULL; s = s->next) {
		s->linked = false;
		s->local_ended = s->remote_ended = true;
	}
	for (s = list; s != NULL; s = s->next) {
		stream_hold(s);
		report_end(s, "session closed");
		s->busy--;
	}
	for (s = list; s != NULL; s = next) {
		next = s->next;
		s->prev = s->next = NULL;
		stream_finish(s);
	}
}

void mrpc_free(struct mrpc *m)
{
	if (m == NULL || m->free_pending)
		return;
	session_enter(m);
	m->free_pending = true;
	if (!m->closed)
		close_all(m);
	session_leave(m);
}

void mrpc_on_goodbye(struct mrpc *m)
{
	if (m->closed)
		return;
	session_enter(m);
	log_debug("muxrpc: peer goodbye, %zu streams open", mrpc_open_count(m));
	close_all(m);
	session_leave(m);
}

int mrpc_goodbye(struct mrpc *m)
{
	static const uint8_t zero[PSC_HEADER_BYTES];

	/* The all-zero header is the goodbye to both JS (any zero length) and
	 * go-muxrpc (only this one). After it nothing else may go out. */
	if (m->goodbye_sent)
		return 0;
	m->goodbye_sent = true;
	return m->send(m->io, zero, NULL, 0);
}

/* ---- incoming packets ---- */

/* The error of an END packet: NULL for JSON true (a clean end), else the
 * message of the error object. *owned is what the caller frees. */
static const char *end_error(const struct psc_packet *pkt, char **owned)
{
	json_t *v = NULL;
	bool clean;

	*owned = NULL;
	if (psc_type(pkt) == PSC_JSON && pkt->len > 0 && pkt->body != NULL)
		v = json_loadb((const char *)pkt->body, pkt->len, JSON_DECODE_ANY, NULL);
	clean = json_is_true(v);
	json_decref(v);
	if (clean)
		return NULL;
	*owned = mrpc_error_message(pkt->body, pkt->len);
	return *owned ? *owned : "unknown error";
}

/* Our call's async reply: on_data (success only), on_end, on_free. */
static int on_async_reply(struct mrpc_stream *s, struct psc_packet *pkt)
{
	char *msg = NULL;
	bool failed = psc_is_end(pkt);

	s->remote_ended = true;
	stream_hold(s);
	if (failed)
		msg = mrpc_error_message(pkt->body, pkt->len);
	else if (s->cbs.on_data != NULL && !s->end_reported)
		s->cbs.on_data(s, pkt, s->ud);
	report_end(s, failed ? (msg ? msg : "unknown error") : NULL);
	stream_drop(s);
	free(msg);
	return 0;
}

/* Does this side of the stream carry items from the peer? A source's
 * caller only receives, a sink's callee only receives, duplex both. */
static bool peer_may_send_items(const struct mrpc_stream *s)
{
	if (s->kind == MRPC_DUPLEX)
		return true;
	return s->ours ? s->kind == MRPC_SOURCE : s->kind == MRPC_SINK;
}

/* A packet on a known stream, from either direction. */
static int on_stream_packet(struct mrpc_stream *s, struct psc_packet *pkt)
{
	struct mrpc *m = s->m;
	const char *err;
	char *owned;
	int rc = 0;

	if (s->remote_ended) {
		log_debug("muxrpc: req %d: packet after the peer's END ignored", (int)pkt->req);
		return 0;
	}
	if (!psc_is_end(pkt)) {
		if (s->rejected)   /* refused request: drop until the peer's END */
			return 0;
		if (!peer_may_send_items(s)) {
			log_debug("muxrpc: req %d: item against the %s direction ignored",
			          (int)pkt->req, mrpc_kind_name(s->kind));
			return 0;
		}
		if (s->cbs.on_data != NULL) {
			stream_hold(s);
			s->cbs.on_data(s, pkt, s->ud);
			stream_drop(s);
		}
		return 0;
	}

	s->remote_ended = true;
	err = end_error(pkt, &owned);
	stream_hold(s);
	report_end(s, err);
	/* JS answers every END with its own at once (§5.4); on_end may have
	 * sent ours already (local_ended then) and it never goes twice. A
	 * half-close stream answers when its own direction is over. */
	if (!s->local_ended && !s->half_close) {
		s->local_ended = true;
		if (!m->goodbye_sent)
			rc = send_end_true(m, wire_req(s));
	}
	stream_drop(s);
	free(owned);
	return rc;
}

static int on_reply(struct mrpc *m, struct psc_packet *pkt)
{
	struct mrpc_stream *s = NULL;

	/* -INT32_MIN does not exist; we never number a call that high */
	if (pkt->req != INT32_MIN)
		s = stab_get(&m->out, -pkt->req);
	if (s == NULL) {
		log_debug("muxrpc: packet for unknown call %d ignored", (int)pkt->req);
		return 0;
	}
	/* JS keeps calls and streams in separate maps, so a packet of the
	 * wrong shape finds nothing there and is dropped; so here. */
	if (s->kind == MRPC_ASYNC) {
		if (psc_is_stream(pkt)) {
			log_debug("muxrpc: stream packet for async call %d ignored", (int)s->req);
			return 0;
		}
		return on_async_reply(s, pkt);
	}
	if (!psc_is_stream(pkt)) {
		log_debug("muxrpc: non-stream packet for stream %d ignored", (int)s->req);
		return 0;
	}
	return on_stream_packet(s, pkt);
}

/* Refuses request req with an error object: 0x06 for async, 0x0E for a
 * stream, which also leaves a tombstone that swallows the stream's later
 * items until the peer's END. */
static int reject(struct mrpc *m, int32_t req, bool stream, enum mrpc_kind kind, const char *msg)
{
	json_t *e = mrpc_error_object(msg ? msg : "out of memory");
	struct mrpc_stream *t;
	int rc;

	if (e == NULL)
		return -ENOMEM;
	log_debug("muxrpc: req %d refused: %.200s", (int)req, msg ? msg : "out of memory");
	if (stream) {
		t = stream_new(m, req, false, kind);
		if (t != NULL) {
			t->rejected = true;
			t->local_ended = true;
			linger_add(m, t);
		}
	}
	rc = m->goodbye_sent ? 0 : send_json(m, (stream ? PSC_FLAG_STREAM : 0) | PSC_FLAG_END, -req, e);
	json_decref(e);
	return rc;
}

static bool stream_type(const char *t, enum mrpc_kind *k)
{
	static const enum mrpc_kind kinds[] = { MRPC_SOURCE, MRPC_SINK, MRPC_DUPLEX };

	for (size_t i = 0; t != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(t, mrpc_kind_name(kinds[i])) == 0) {
			*k = kinds[i];
			return true;
		}
	}
	return false;
}

static int reject_args(struct mrpc *m, int32_t req, bool stream, enum mrpc_kind kind, const json_t *body)
{
	char *was = json_dumps(body, DUMP_FLAGS), *msg;
	int rc;

	/* JS: `invalid request, args should be array, was: ${JSON.stringify(opts)}` */
	if (was == NULL)
		return reject(m, req, stream, kind, NULL);
	msg = malloc(strlen(was) + 64);
	if (msg != NULL)
		sprintf(msg, "invalid request, args should be array, was: %s", was);
	rc = reject(m, req, stream, kind, msg);
	free(msg);
	free(was);
	return rc;
}

/* JS prints the path as `${name}`: "no async:tunnel,isRoom" */
static char *kind_mismatch(enum mrpc_kind want, const json_t *name)
{
	char head[16];

	snprintf(head, sizeof(head), "no %s:", mrpc_kind_name(want));
	return js_format(head, name, true, "");
}

static void reply_manifest(struct mrpc_stream *call, json_t *args, void *ud)
{
	(void)args;
	mrpc_reply(call, mrpc_api_manifest(ud));
}

/* The first packet of an unknown req > 0: a request. Checks in JS order:
 * async — args, then name; stream — type, then name, then args. */
static int on_new_request(struct mrpc *m, struct psc_packet *pkt)
{
	int32_t req = pkt->req;
	bool stream = psc_is_stream(pkt);
	enum mrpc_kind want = MRPC_ASYNC;
	const struct mrpc_method *mt;
	mrpc_handler_fn *fn;
	void *fn_ud;
	json_t *body = NULL, *name, *args, *type;
	struct mrpc_stream *s;
	char *msg = NULL, logname[65];
	json_error_t jerr;
	int rc = 0;

	if (psc_type(pkt) != PSC_JSON || pkt->body == NULL) {
		/* Binary or text on an unknown number: a late item of a stream
		 * that is already gone. */
		log_debug("muxrpc: req %d: first packet is not a request, ignored", (int)req);
		goto out;
	}
	body = json_loadb((const char *)pkt->body, pkt->len, JSON_DECODE_ANY, &jerr);
	if (body == NULL) {
		/* JS hangs up on a request it cannot parse; answering is not
		 * possible (the caller's intent is unknown) and ignoring it leaves
		 * the caller waiting forever. */
		log_warn("muxrpc: req %d: request is not valid JSON (%s)", (int)req, jerr.text);
		rc = -EPROTO;
		goto out;
	}
	if (!json_is_object(body)) {
		rc = reject_args(m, req, stream, want, body);
		goto out;
	}
	name = json_object_get(body, "name");
	args = json_object_get(body, "args");
	type = json_object_get(body, "type");

	/* With STREAM clear JS ignores "type" (absent, "async" and "sync" all
	 * mean a plain call; anything else then fails the kind check). */
	if (stream && !stream_type(json_string_value(type), &want)) {
		msg = js_format("unsupported stream type: ", type, false, "");
		rc = reject(m, req, stream, want, msg);
		goto out;
	}
	if (!stream && !json_is_array(args)) {
		rc = reject_args(m, req, stream, want, body);
		goto out;
	}

	mt = api_find(m->api, name);
	if (mt != NULL) {
		fn = mt->fn;
		fn_ud = mt->ud;
		if (mt->kind != want) {
			msg = kind_mismatch(want, name);
			rc = reject(m, req, stream, want, msg);
			goto out;
		}
	} else if (name_matches("manifest", name)) {
		/* secret-stack's manifest, answered for an api without its own */
		if (want != MRPC_ASYNC) {
			msg = kind_mismatch(want, name);
			rc = reject(m, req, stream, want, msg);
			goto out;
		}
		fn = reply_manifest;
		fn_ud = (void *)(uintptr_t)m->api;
	} else {
		msg = js_format("method:", name, true, " is not in list of allowed methods");
		rc = reject(m, req, stream, want, msg);
		goto out;
	}
	if (!json_is_array(args)) {
		rc = reject_args(m, req, stream, want, body);
		goto out;
	}

	s = stream_new(m, req, false, want);
	if (s == NULL) {
		/* unanswerable without memory; the transport ends the session */
		rc = -ENOMEM;
		goto out;
	}
	if (want == MRPC_ASYNC)
		s->remote_ended = true;  /* the request is all the peer sends */
	log_clean(logname, mt ? mt->name : "manifest");
	log_debug("muxrpc: req %d: %s %s", (int)req, mrpc_kind_name(want), logname);
	stream_hold(s);
	fn(s, args, fn_ud);
	stream_drop(s);
out:
	free(msg);
	json_decref(body);
	return rc;
}

static int on_request(struct mrpc *m, struct psc_packet *pkt)
{
	struct mrpc_stream *s = stab_get(&m->in, pkt->req);

	if (s == NULL) {
		if (psc_is_end(pkt)) {
			/* a late END for a stream we already freed */
			log_debug("muxrpc: END for unknown req %d ignored", (int)pkt->req);
			return 0;
		}
		return on_new_request(m, pkt);
	}
	/* JS would run a repeated async request again and answer the same
	 * number twice; one call per number is all we keep. */
	if (s->kind == MRPC_ASYNC || !psc_is_stream(pkt)) {
		log_debug("muxrpc: req %d: unexpected %s packet ignored", (int)pkt->req,
		          psc_is_stream(pkt) ? "stream" : "non-stream");
		return 0;
	}
	return on_stream_packet(s, pkt);
}

static void linger_give_up(struct mrpc_stream *s)
{
	log_debug("muxrpc: req %d: the peer never ended it; given up (%zu waiting)",
	          (int)s->req, s->m->nlinger);
	linger_del(s);
	s->remote_ended = true;
	stream_hold(s);
	report_end(s, "the peer did not end the stream");
	stream_drop(s);   /* finishes it: both sides ended */
}

int mrpc_on_packet(struct mrpc *m, struct psc_packet *pkt)
{
	int rc = 0;

	if (m->closed) {
		log_debug("muxrpc: packet after close ignored");
		goto out;
	}
	session_enter(m);
	while (m->nlinger > MRPC_LINGER_MAX && !m->closed)
		linger_give_up(m->linger_head);
	if (psc_type(pkt) == 3) {
		log_warn("muxrpc: req %d: body type 3 is invalid", (int)pkt->req);
		rc = -EPROTO;
	} else if (pkt->req == 0) {
		/* a "message": JS ignores them, so do we */
		log_debug("muxrpc: req 0 message ignored");
	} else if (pkt->req < 0) {
		rc = on_reply(m, pkt);
	} else {
		rc = on_request(m, pkt);
	}
	session_leave(m);
out:
	free(pkt->body);
	pkt->body = NULL;
	return rc;
}

/* ---- calling the peer ---- */

/* "tunnel.connect" -> ["tunnel","connect"] */
static json_t *split_name(const char *name)
{
	json_t *arr = json_array();
	const char *dot;

	while (arr != NULL) {
		dot = strchr(name, '.');
		if (json_array_append_new(arr, json_stringn(name, dot ? (size_t)(dot - name) : strlen(name))) < 0) {
			json_decref(arr);
			return NULL;
		}
		if (dot == NULL)
			break;
		name = dot + 1;
	}
	return arr;
}

static int32_t next_req(struct mrpc *m)
{
	int32_t r;

	/* 1, 2, ... INT32_MAX, then 1 again, skipping numbers still in use */
	do {
		r = m->next_req;
		m->next_req = r == INT32_MAX ? 1 : r + 1;
	} while (stab_get(&m->out, r) != NULL);
	return r;
}

static struct mrpc_stream *start_call(struct mrpc *m, const char *name, json_t *args,
                                      enum mrpc_kind kind, const struct mrpc_stream_cbs *cbs, void *ud)
{
	struct mrpc_stream *s = NULL;
	json_t *body = NULL;
	int32_t req;

	if (m == NULL || name == NULL || !dotted_name_ok(name) || (unsigned)kind > MRPC_DUPLEX ||
	    m->closed || m->goodbye_sent)
		goto out;
	if (args == NULL)
		args = json_array();
	if (!json_is_array(args))
		goto out;
	/* JS key order: name, args, type */
	body = json_object();
	/* json_object_set_new consumes its value even when it fails */
	if (body == NULL || json_object_set_new(body, "name", split_name(name)) < 0 ||
	    json_object_set(body, "args", args) < 0 ||
	    (kind != MRPC_ASYNC && json_object_set_new(body, "type", json_string(mrpc_kind_name(kind))) < 0))
		goto out;
	req = next_req(m);
	s = stream_new(m, req, true, kind);
	if (s == NULL)
		goto out;
	if (kind == MRPC_ASYNC)
		s->local_ended = true;  /* the request is all we send */
	if (cbs != NULL)
		s->cbs = *cbs;
	s->ud = ud;
	if (send_json(m, kind == MRPC_ASYNC ? 0 : PSC_FLAG_STREAM, req, body) < 0) {
		/* never announced: vanish without callbacks */
		stream_unlink(s);
		free(s);
		s = NULL;
	}
out:
	json_decref(body);
	json_decref(args);
	return s;
}

struct mrpc_stream *mrpc_call(struct mrpc *m, const char *name, json_t *args,
                              const struct mrpc_stream_cbs *cbs, void *ud)
{
	return start_call(m, name, args, MRPC_ASYNC, cbs, ud);
}

struct mrpc_stream *mrpc_open(struct mrpc *m, const char *name, json_t *args,
                              enum mrpc_kind kind, const struct mrpc_stream_cbs *cbs, void *ud)
{
	if (kind == MRPC_ASYNC) {
		json_decref(args);
		return NULL;
	}
	return start_call(m, name, args, kind, cbs, ud);
}

/* ---- on a stream or call ---- */

void mrpc_stream_set_cbs(struct mrpc_stream *s, const struct mrpc_stream_cbs *cbs, void *ud)
{
	if (cbs != NULL)
		s->cbs = *cbs;
	else
		memset(&s->cbs, 0, sizeof(s->cbs));
	s->ud = ud;
}

struct mrpc *mrpc_stream_session(const struct mrpc_stream *s)
{
	return s->m;
}

void *mrpc_stream_ud(const struct mrpc_stream *s)
{
	return s->ud;
}

enum mrpc_kind mrpc_stream_kind(const struct mrpc_stream *s)
{
	return s->kind;
}

int32_t mrpc_stream_req(const struct mrpc_stream *s)
{
	return s->req;
}

bool mrpc_stream_local_ended(const struct mrpc_stream *s)
{
	return s->local_ended;
}

void mrpc_stream_set_half_close(struct mrpc_stream *s)
{
	if (s->kind == MRPC_DUPLEX)
		s->half_close = true;
}

bool mrpc_stream_remote_ended(const struct mrpc_stream *s)
{
	return s->remote_ended;
}

/* 0 when s may carry one more item from us, else why not. */
static int can_send_item(const struct mrpc_stream *s)
{
	if (s->kind == MRPC_ASYNC)
		return -EINVAL;
	if (s->m->closed || s->local_ended || s->m->goodbye_sent)
		return -EPIPE;
	/* a source's caller and a sink's callee only receive */
	if (s->kind != MRPC_DUPLEX && (s->ours ? s->kind == MRPC_SOURCE : s->kind == MRPC_SINK))
		return -EINVAL;
	return 0;
}

int mrpc_stream_send(struct mrpc_stream *s, enum psc_type type, const uint8_t *body, size_t len)
{
	int rc;

	if (s == NULL || (unsigned)type > PSC_JSON || (body == NULL && len > 0))
		return -EINVAL;
	rc = can_send_item(s);
	if (rc < 0 || len == 0)
		return rc;
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	return send_packet(s->m, PSC_FLAG_STREAM | (uint8_t)type, wire_req(s), body, len);
}

int mrpc_stream_send_json(struct mrpc_stream *s, json_t *value)
{
	int rc;

	if (s == NULL || value == NULL)
		rc = -EINVAL;
	else if ((rc = can_send_item(s)) == 0)
		rc = send_value(s->m, PSC_FLAG_STREAM, wire_req(s), value);
	json_decref(value);
	return rc;
}

int mrpc_stream_end(struct mrpc_stream *s, const char *err)
{
	struct mrpc *m;
	json_t *e;
	int rc;

	if (s == NULL || s->kind == MRPC_ASYNC)
		return -EINVAL;
	m = s->m;
	if (m->closed || s->local_ended)
		return -EPIPE;
	session_enter(m);
	/* marked first: even if the send fails, no second END is attempted */
	s->local_ended = true;
	linger_add(m, s);
	if (m->goodbye_sent) {
		rc = -EPIPE;
	} else if (err == NULL) {
		rc = send_end_true(m, wire_req(s));
	} else {
		e = mrpc_error_object(err);
		rc = e ? send_json(m, PSC_FLAG_STREAM | PSC_FLAG_END, wire_req(s), e) : -ENOMEM;
		json_decref(e);
	}
	stream_check(s);
	session_leave(m);
	return rc;
}

/* Sends the single reply of an incoming async call and lets it go. */
static int finish_reply(struct mrpc_stream *call, uint8_t flags, json_t *value)
{
	struct mrpc *m;
	int rc;

	if (call == NULL || call->ours || call->kind != MRPC_ASYNC) {
		json_decref(value);
		return -EINVAL;
	}
	m = call->m;
	/* After close the sweep owns every stream: no send, no free here. */
	if (m->closed || call->local_ended) {
		json_decref(value);
		return -EPIPE;
	}
	session_enter(m);
	call->local_ended = true;
	if (value == NULL)
		rc = -ENOMEM;
	else if (m->goodbye_sent)
		rc = -EPIPE;
	else
		rc = send_value(m, flags, -call->req, value);
	json_decref(value);
	stream_check(call);
	session_leave(m);
	return rc;
}

int mrpc_reply(struct mrpc_stream *call, json_t *value)
{
	/* A JS handler that returns nothing puts false on the wire. */
	if (value == NULL)
		value = json_false();
	return finish_reply(call, 0, value);
}

int mrpc_reply_error(struct mrpc_stream *call, const char *message)
{
	return finish_reply(call, PSC_FLAG_END, mrpc_error_object(message));
}

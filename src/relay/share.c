/* share — see share.h. */
#include "share.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "metrics.h"
#include "policy.h"

struct watch {
	share_report_fn *fn;
	void *ud;
	json_t *last;    /* the last reported sample */
};

static const struct { const char *key; double floor; } fields[] = {
	{ "guarantee", 8000 }, { "ceiling", 8000 }, { "rate", 8000 },
	{ "borrowed_rate", 8000 }, { "delay_ms", 0.5 },
};

bool share_changed(json_t *last, json_t *cur)
{
	if (last == NULL)
		return true;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		double a = json_number_value(json_object_get(last, fields[i].key));
		double b = json_number_value(json_object_get(cur, fields[i].key));
		double d = a > b ? a - b : b - a, m = a > b ? a : b;   /* rates and delays are ≥ 0 */

		if (d > 0.1 * m && d > fields[i].floor)
			return true;
	}
	return false;
}

void share_format(json_t *v, char *out, size_t len)
{
	char g[32], c[32], r[32], b[32];
	double rate_of[4];
	const char *keys[4] = { "guarantee", "ceiling", "rate", "borrowed_rate" };
	const char *user = json_string_value(json_object_get(v, "user"));

	for (int i = 0; i < 4; i++) {
		rate_of[i] = json_number_value(json_object_get(v, keys[i]));
		/* a portal's numbers, not ours: keep them convertible */
		if (!(rate_of[i] > 0))
			rate_of[i] = 0;
		else if (rate_of[i] > 1e18)
			rate_of[i] = 1e18;
	}
	snprintf(out, len, "share: %s guarantee %s ceiling %s rate %s borrowed %s delay %.2fms p99 %.2fms",
	         user != NULL ? user : "?",
	         rate_of[0] > 0 ? policy_rate_str((uint64_t)rate_of[0], g, sizeof(g)) : "unshaped",
	         rate_of[1] > 0 ? policy_rate_str((uint64_t)rate_of[1], c, sizeof(c)) : "unshaped",
	         policy_rate_str((uint64_t)rate_of[2], r, sizeof(r)),
	         policy_rate_str((uint64_t)rate_of[3], b, sizeof(b)),
	         json_number_value(json_object_get(v, "delay_ms")),
	         json_number_value(json_object_get(v, "delay_p99_ms")));
}

static void on_data(struct mrpc_stream *s, struct psc_packet *pkt, void *ud)
{
	struct watch *w = ud;
	json_error_t jerr;
	json_t *v = json_loadb((const char *)pkt->body, pkt->len, 0, &jerr);
	char line[256];

	if (!json_is_object(v) || !json_is_string(json_object_get(v, "user"))) {
		log_debug("fairway.share: not a share sample (%.*s)", (int)(pkt->len < 80 ? pkt->len : 80),
		          (const char *)pkt->body);
		json_decref(v);
		return;
	}
	if (!share_changed(w->last, v)) {
		json_decref(v);
		return;
	}
	share_format(v, line, sizeof(line));
	w->fn(line, w->ud);
	json_decref(w->last);
	w->last = v;
}

static void on_end(struct mrpc_stream *s, const char *err, void *ud)
{
	if (err != NULL)
		log_debug("fairway.share ended: %s", err);
	if (!mrpc_stream_local_ended(s))
		mrpc_stream_end(s, NULL);
}

static void on_free(struct mrpc_stream *s, void *ud)
{
	struct watch *w = ud;

	json_decref(w->last);
	free(w);
}

static const struct mrpc_stream_cbs watch_cbs = { .on_data = on_data, .on_end = on_end, .on_free = on_free };

int share_watch(struct mrpc *m, share_report_fn *fn, void *ud)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -ENOMEM;
	w->fn = fn;
	w->ud = ud;
	if (mrpc_open(m, "fairway.share", json_array(), MRPC_SOURCE, &watch_cbs, w) == NULL) {
		free(w);
		return -EIO;
	}
	return 0;
}

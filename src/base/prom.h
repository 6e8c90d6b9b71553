/* prom — Prometheus text exposition format 0.0.4 writer, shared by the
 * portal's /metrics and the router plane's `nat info --prometheus`.
 *
 * Wire format (one family):
 *   # HELP fairway_user_bytes_total Bytes relayed per user.
 *   # TYPE fairway_user_bytes_total counter
 *   fairway_user_bytes_total{user="alice",dir="up"} 1234
 * HELP text escapes '\' and newline; label values escape '\', '"' and
 * newline. A histogram writes cumulative _bucket{le="..."} lines ending in
 * le="+Inf", then _sum and _count.
 *
 * Pure: text into a caller-owned growable buffer, no I/O. An allocation
 * failure is sticky (b->err = -ENOMEM) so callers check once at the end. */
#ifndef FAIRWAY_PROM_H
#define FAIRWAY_PROM_H

#include <stddef.h>
#include <stdint.h>

struct prom_buf {
	char *p;      /* owned; NUL-terminated when len > 0; free with prom_buf_free */
	size_t len, cap;
	int err;      /* 0 or -ENOMEM, sticky */
};

/* A label pair; a NULL name ends nothing: counts are passed explicitly. */
struct prom_label {
	const char *name;   /* [a-zA-Z_][a-zA-Z0-9_]*, not checked here */
	const char *value;  /* any UTF-8, escaped on output */
};

void prom_buf_init(struct prom_buf *b);
void prom_buf_free(struct prom_buf *b);

/* "# HELP" and "# TYPE" lines. type: "counter", "gauge", "histogram",
 * "summary" or "untyped". */
void prom_family(struct prom_buf *b, const char *name, const char *type,
                 const char *help);

/* One sample line: name{labels} value. value printed as Prometheus reads
 * it: integers without exponent where exact, NaN, +Inf, -Inf. */
void prom_sample(struct prom_buf *b, const char *name,
                 const struct prom_label *labels, size_t nlabels, double value);

/* A histogram's sample lines (family line written by the caller with type
 * "histogram"). bounds[i] is the upper bound of bucket i (ascending);
 * counts[i] the observations in bucket i alone (not cumulative),
 * counts[nb] those above the last bound. Writes cumulative buckets,
 * +Inf, _sum and _count; the extra "le" label follows the given ones. */
void prom_histogram(struct prom_buf *b, const char *name,
                    const struct prom_label *labels, size_t nlabels,
                    const double *bounds, const uint64_t *counts, size_t nb,
                    double sum);

/* The same with the le="..." texts made once for many histograms of one
 * family (a scrape has one per user and band): prom_le_init formats n ≤
 * PROM_LE_MAX bounds; counts has le->n + 1 entries. */
#define PROM_LE_MAX 64
struct prom_le {
	size_t n;
	char s[PROM_LE_MAX][32];
};
void prom_le_init(struct prom_le *le, const double *bounds, size_t n);
void prom_histogram_le(struct prom_buf *b, const char *name,
                       const struct prom_label *labels, size_t nlabels,
                       const struct prom_le *le, const uint64_t *counts, double sum);

#endif

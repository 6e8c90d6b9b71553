/* prom — see prom.h. */
#include "prom.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void prom_buf_init(struct prom_buf *b)
{
	memset(b, 0, sizeof *b);
}

void prom_buf_free(struct prom_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static int grow(struct prom_buf *b, size_t more)
{
	if (b->err)
		return b->err;
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return b->err = -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void put(struct prom_buf *b, const char *s, size_t n)
{
	if (grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct prom_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Escapes '\' and '\n' always, '"' too when quote (label values); an
 * invalid UTF-8 byte becomes U+FFFD. */
static void put_escaped(struct prom_buf *b, const char *s, int quote)
{
	while (*s) {
		size_t run = 0, n;

		/* a run of plain ASCII goes in one copy */
		while (s[run] != '\0' && (unsigned char)s[run] < 0x80 && s[run] != '\\' &&
		       s[run] != '\n' && !(quote && s[run] == '"'))
			run++;
		if (run > 0) {
			put(b, s, run);
			s += run;
			continue;
		}
		if (*s == '\\' || *s == '\n' || *s == '"') {
			put(b, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"", 2);
			s++;
			continue;
		}
		n = util_utf8_len(s);
		if (n == 0) {   /* invalid UTF-8: U+FFFD */
			put(b, "\xef\xbf\xbd", 3);
			s++;
		} else {
			put(b, s, n);
			s += n;
		}
	}
}

/* The shortest %g text that reads back as v (15..17 digits): 0.1, not
 * 0.10000000000000001; le="6.5536e-05", not 6.5536000000000004e-05. */
static void fmt_double(char *tmp, size_t n, double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, n, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			return;
	}
}

/* Integers are most of what a scrape holds: no printf for them. */
static void put_int(struct prom_buf *b, int64_t v)
{
	char tmp[24], *e = tmp + sizeof tmp, *p = e;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	put(b, p, (size_t)(e - p));
}

static void put_value(struct prom_buf *b, double v)
{
	char tmp[40];
	if (isnan(v)) {
		puts_(b, "NaN");
		return;
	}
	if (isinf(v)) {
		puts_(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v) {
		put_int(b, (int64_t)v);
		return;
	}
	fmt_double(tmp, sizeof tmp, v);
	puts_(b, tmp);
}

void prom_family(struct prom_buf *b, const char *name, const char *type,
                 const char *help)
{
	puts_(b, "# HELP ");
	puts_(b, name);
	put(b, " ", 1);
	put_escaped(b, help, 0);
	puts_(b, "\n# TYPE ");
	puts_(b, name);
	put(b, " ", 1);
	puts_(b, type);
	put(b, "\n", 1);
}

static void put_labels(struct prom_buf *b, const struct prom_label *l,
                       size_t n, const char *le)
{
	if (n == 0 && !le)
		return;
	put(b, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(b, ",", 1);
		puts_(b, l[i].name);
		put(b, "=\"", 2);
		put_escaped(b, l[i].value ? l[i].value : "", 1);
		put(b, "\"", 1);
	}
	if (le) {
		if (n)
			put(b, ",", 1);
		puts_(b, "le=\"");
		puts_(b, le);
		put(b, "\"", 1);
	}
	put(b, "}", 1);
}

void prom_sample(struct prom_buf *b, const char *name,
                 const struct prom_label *labels, size_t nlabels, double value)
{
	puts_(b, name);
	put_labels(b, labels, nlabels, NULL);
	put(b, " ", 1);
	put_value(b, value);
	put(b, "\n", 1);
}

void prom_le_init(struct prom_le *le, const double *bounds, size_t n)
{
	le->n = n < PROM_LE_MAX ? n : PROM_LE_MAX;
	for (size_t i = 0; i < le->n; i++)
		fmt_double(le->s[i], sizeof(le->s[i]), bounds[i]);
}

/* Appends a copy of the buffer's own bytes [off, off+len). */
static void put_copy(struct prom_buf *b, size_t off, size_t len)
{
	if (grow(b, len))
		return;
	memcpy(b->p + b->len, b->p + off, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void prom_histogram_le(struct prom_buf *b, const char *name,
                       const struct prom_label *labels, size_t nlabels,
                       const struct prom_le *le, const uint64_t *counts, double sum)
{
	char n[256];
	uint64_t cum = 0;
	size_t off = b->len, plen;

	/* "name_bucket{user="x",band="y",le="" once; the other lines copy it */
	snprintf(n, sizeof n, "%s_bucket{", name);
	puts_(b, n);
	for (size_t i = 0; i < nlabels; i++) {
		puts_(b, labels[i].name);
		put(b, "=\"", 2);
		put_escaped(b, labels[i].value ? labels[i].value : "", 1);
		put(b, "\",", 2);
	}
	puts_(b, "le=\"");
	plen = b->len - off;
	for (size_t i = 0; i <= le->n && !b->err; i++) {
		cum += counts[i];
		if (i > 0)
			put_copy(b, off, plen);
		puts_(b, i < le->n ? le->s[i] : "+Inf");
		put(b, "\"} ", 3);
		put_int(b, (int64_t)cum);
		put(b, "\n", 1);
	}
	snprintf(n, sizeof n, "%s_sum", name);
	prom_sample(b, n, labels, nlabels, sum);
	snprintf(n, sizeof n, "%s_count", name);
	prom_sample(b, n, labels, nlabels, (double)cum);
}

void prom_histogram(struct prom_buf *b, const char *name,
                    const struct prom_label *labels, size_t nlabels,
                    const double *bounds, const uint64_t *counts, size_t nb,
                    double sum)
{
	struct prom_le le;

	prom_le_init(&le, bounds, nb);
	prom_histogram_le(b, name, labels, nlabels, &le, counts, sum);
}

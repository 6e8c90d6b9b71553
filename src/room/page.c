/* page — HTML and JSON replies (see page.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <qrencode.h>

#include "page.h"

void page_add(struct page *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		char *g;

		while (cap < b->len + n + 1)
			cap *= 2;
		g = realloc(b->p, cap);
		if (g == NULL) {
			b->oom = true;
			return;
		}
		b->p = g;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void page_puts(struct page *b, const char *s) { page_add(b, s, strlen(s)); }

void page_printf(struct page *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		page_add(b, tmp, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (big == NULL) {
			b->oom = true;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		page_add(b, big, (size_t)n);
		free(big);
	}
}

void page_html(struct page *b, const char *s, bool nl_br)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': page_puts(b, "&amp;"); break;
		case '<': page_puts(b, "&lt;"); break;
		case '>': page_puts(b, "&gt;"); break;
		case '"': page_puts(b, "&quot;"); break;
		case '\'': page_puts(b, "&#39;"); break;
		case '\n': page_puts(b, nl_br ? "<br>\n" : "\n"); break;
		default: page_add(b, s, 1);
		}
	}
}

/* One path, a run of dark modules per "M x y h n v1 h -n z", a quiet zone
 * of 4 modules. */
void page_qr(struct page *b, const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	const int m = 4;
	int n;

	if (q == NULL) {
		page_puts(b, "<p>(no QR code: the link is too long)</p>");
		return;
	}
	n = q->width;
	page_printf(b, "<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
	            "role=\"img\" aria-label=\"QR code of the link\"><rect width=\"%d\" height=\"%d\" "
	            "fill=\"#fff\"/><path fill=\"#000\" d=\"", n + 2 * m, n + 2 * m, n + 2 * m, n + 2 * m);
	for (int y = 0; y < n; y++)
		for (int x = 0; x < n;) {
			int run = 0;

			while (x + run < n && (q->data[y * n + x + run] & 1))
				run++;
			if (run > 0) {
				page_printf(b, "M%d %dh%dv1h-%dz", x + m, y + m, run, run);
				x += run;
			} else {
				x++;
			}
		}
	page_puts(b, "\"/></svg>");
	QRcode_free(q);
}

void page_free(struct page *b)
{
	free(b->p);
	*b = (struct page){ 0 };
}

enum MHD_Result page_reply(struct http_req *r, unsigned status, struct page *b)
{
	enum MHD_Result ret;

	if (b->oom || b->p == NULL) {
		page_free(b);
		return http_reply(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
	}
	ret = http_reply(r, status, "text/html; charset=utf-8", b->p, b->len);
	page_free(b);
	return ret;
}

enum MHD_Result page_json(struct http_req *r, unsigned status, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(j);
	if (s == NULL)
		return http_reply(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
	ret = http_reply(r, status, "application/json", s, strlen(s));
	free(s);
	return ret;
}

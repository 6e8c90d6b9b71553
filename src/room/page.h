/* page — building HTML (and JSON) replies for the room's web routes.
 *
 * A struct page is a growing buffer: start it as `struct page b = { 0 };`,
 * append with the page_* calls (they never fail: on out-of-memory the page
 * remembers it and page_reply answers 500), then hand it to page_reply,
 * which sends and frees it. page_html escapes text for HTML content and
 * attribute values alike; nothing else escapes, so every text that did not
 * come from fairway itself goes through page_html. */
#ifndef FAIRWAY_PAGE_H
#define FAIRWAY_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "http.h"

struct page {
	char *p;          /* NUL-terminated once anything was added */
	size_t len, cap;
	bool oom;
};

void page_add(struct page *b, const char *s, size_t n);
void page_puts(struct page *b, const char *s);
__attribute__((format(printf, 2, 3)))
void page_printf(struct page *b, const char *fmt, ...);
/* Text escaped for HTML (& < > " '). nl_br: newlines become <br>. */
void page_html(struct page *b, const char *s, bool nl_br);
/* A QR code of text as inline SVG (libqrencode), or a short note when the
 * text is too long for one. */
void page_qr(struct page *b, const char *text);
void page_free(struct page *b);

/* Sends b as text/html with status and frees it (500 if it ran out of
 * memory). */
enum MHD_Result page_reply(struct http_req *r, unsigned status, struct page *b);
/* Sends j (taken: decref'd here) compactly as application/json. */
enum MHD_Result page_json(struct http_req *r, unsigned status, json_t *j);

#endif

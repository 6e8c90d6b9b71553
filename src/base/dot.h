/* dot — Graphviz DOT writer for trees (the portal's class tree for
 * `fairway info --dot`, the router's for `nat info --dot`).
 *
 * Output:
 *   digraph "name" {
 *     node [shape=box, fontname="monospace"];
 *     "link" [label="link\n20 Mbit/s"];
 *     "link" -> "alice" [style=dashed, color="#d95f02"];
 *   }
 * Every ID and attribute value is written as a quoted string: '"' and '\'
 * are escaped, a newline becomes DOT's "\n" line break. Pure: text into
 * a prom_buf-like growable buffer owned by the caller. */
#ifndef FAIRWAY_DOT_H
#define FAIRWAY_DOT_H

#include <stddef.h>

struct dot_buf {
	char *p;      /* owned; NUL-terminated once anything is written */
	size_t len, cap;
	int err;      /* 0 or -ENOMEM, sticky */
};

struct dot_attr {
	const char *name;   /* a DOT attribute name (label, style, color...) */
	const char *value;  /* escaped and quoted on output */
};

void dot_buf_init(struct dot_buf *b);
void dot_buf_free(struct dot_buf *b);

/* "digraph "name" {" plus default node attributes. */
void dot_begin(struct dot_buf *b, const char *name);
void dot_node(struct dot_buf *b, const char *id,
              const struct dot_attr *attrs, size_t nattrs);
void dot_edge(struct dot_buf *b, const char *from, const char *to,
              const struct dot_attr *attrs, size_t nattrs);
void dot_end(struct dot_buf *b);

#endif

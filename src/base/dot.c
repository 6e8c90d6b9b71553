/* dot — see dot.h. */
#include "dot.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dot_buf_init(struct dot_buf *b)
{
	memset(b, 0, sizeof *b);
}

void dot_buf_free(struct dot_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static void put(struct dot_buf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct dot_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void quoted(struct dot_buf *b, const char *s)
{
	put(b, "\"", 1);
	for (; s && *s; s++) {
		size_t n = util_utf8_len(s);

		if (n == 0) {   /* invalid UTF-8: U+FFFD, dot warns otherwise */
			put(b, "\xef\xbf\xbd", 3);
			continue;
		}
		if (n > 1) {
			put(b, s, n);
			s += n - 1;
			continue;
		}
		if (*s == '"' || *s == '\\') {
			put(b, "\\", 1);
			put(b, s, 1);
		} else if (*s == '\n') {
			put(b, "\\n", 2);
		} else if ((unsigned char)*s >= 0x20 || *s == '\t') {
			put(b, s, 1);
		}	/* other control bytes dropped: dot refuses them */
	}
	put(b, "\"", 1);
}

static void attrs_(struct dot_buf *b, const struct dot_attr *a, size_t n)
{
	if (!n)
		return;
	puts_(b, " [");
	for (size_t i = 0; i < n; i++) {
		if (i)
			puts_(b, ", ");
		puts_(b, a[i].name);
		put(b, "=", 1);
		quoted(b, a[i].value);
	}
	put(b, "]", 1);
}

void dot_begin(struct dot_buf *b, const char *name)
{
	puts_(b, "digraph ");
	quoted(b, name);
	puts_(b, " {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
}

void dot_node(struct dot_buf *b, const char *id,
              const struct dot_attr *attrs, size_t nattrs)
{
	puts_(b, "  ");
	quoted(b, id);
	attrs_(b, attrs, nattrs);
	puts_(b, ";\n");
}

void dot_edge(struct dot_buf *b, const char *from, const char *to,
              const struct dot_attr *attrs, size_t nattrs)
{
	puts_(b, "  ");
	quoted(b, from);
	puts_(b, " -> ");
	quoted(b, to);
	attrs_(b, attrs, nattrs);
	puts_(b, ";\n");
}

void dot_end(struct dot_buf *b)
{
	puts_(b, "}\n");
}

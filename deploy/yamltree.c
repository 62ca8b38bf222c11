/*
 * yamltree.c - libyaml events to a positioned node tree.
 *
 * The builder keeps a stack of open collections. A mapping receives nodes
 * alternately as key and value; a pending key waits in the frame. Anchors
 * are registered when their node is complete, so an alias can never refer
 * to one of its own ancestors: the tree is acyclic by construction.
 */
#include "deploy/yamltree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct frame {
	struct bs_ynode *node;
	struct bs_ynode *pending_key;
	char *anchor;
	struct bs_ynode **merges; /* values of "<<" keys, in order */
	size_t n_merges;
	size_t cap_merges;
};

struct anchor {
	char *name;
	struct bs_ynode *node;
};

struct builder {
	const char *data;
	size_t len;
	struct bs_diags *diags;
	struct frame *stack;
	size_t depth;
	size_t cap;
	struct anchor *anchors;
	size_t n_anchors;
	size_t cap_anchors;
	struct bs_ynode *root;
	size_t total_weight;
	int documents;
	bool fatal; /* stop parsing: syntax error or a limit crossed */
};

static struct bs_ynode *node_new(enum bs_ynode_kind kind, yaml_mark_t mark)
{
	struct bs_ynode *n = bs_xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = (int)mark.line + 1;
	n->col = (int)mark.column + 1;
	n->refs = 1;
	n->weight = 1;
	return n;
}

void bs_ynode_unref(struct bs_ynode *node)
{
	size_t i;

	if (node == NULL || --node->refs > 0)
		return;
	switch (node->kind) {
	case BS_YNODE_SCALAR:
		if (node->secret)
			bs_secure_free_str(node->value);
		else
			free(node->value);
		bs_strv_free(&node->vars);
		break;
	case BS_YNODE_SEQ:
		for (i = 0; i < node->n; i++)
			bs_ynode_unref(node->items[i]);
		free(node->items);
		break;
	case BS_YNODE_MAP:
		for (i = 0; i < node->n; i++) {
			bs_ynode_unref(node->pairs[i].key);
			bs_ynode_unref(node->pairs[i].value);
		}
		free(node->pairs);
		break;
	}
	free(node);
}

struct bs_ynode *bs_ynode_ref(const struct bs_ynode *node)
{
	/* a reference count is not part of what a read-only tree holds */
	struct bs_ynode *n = (struct bs_ynode *)(uintptr_t)node;

	n->refs++;
	return n;
}

struct bs_ynode *bs_ynode_new(enum bs_ynode_kind kind, int line, int col)
{
	struct bs_ynode *n = bs_xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = line;
	n->col = col;
	n->refs = 1;
	n->weight = 1;
	if (kind == BS_YNODE_SCALAR)
		n->value = bs_xstrdup("");
	return n;
}

struct bs_ynode *bs_ynode_new_scalar(const char *value, int line, int col)
{
	struct bs_ynode *n = bs_ynode_new(BS_YNODE_SCALAR, line, col);

	free(n->value);
	n->value = bs_xstrdup(value);
	n->interpolated = true;
	return n;
}

static void map_add_pair(struct bs_ynode *map, struct bs_ynode *key, struct bs_ynode *value);

void bs_ynode_put(struct bs_ynode *map, const char *key, struct bs_ynode *value)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->pairs[i].key->value, key) == 0) {
			map->weight -= map->pairs[i].value->weight;
			bs_ynode_unref(map->pairs[i].value);
			map->pairs[i].value = value;
			map->weight += value->weight;
			return;
		}
	map_add_pair(map, bs_ynode_new_scalar(key, value->line, value->col), value);
	map->pairs[map->n - 1].key->file = value->file;
	map->weight += value->weight + 1;
}

void bs_ynode_put_pair(struct bs_ynode *map, struct bs_ynode *key, struct bs_ynode *value)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->pairs[i].key->value, key->value) == 0) {
			map->weight -= map->pairs[i].value->weight;
			bs_ynode_unref(map->pairs[i].key);
			bs_ynode_unref(map->pairs[i].value);
			map->pairs[i].key = key;
			map->pairs[i].value = value;
			map->weight += value->weight;
			return;
		}
	map_add_pair(map, key, value);
	map->weight += value->weight + 1;
}

void bs_ynode_push(struct bs_ynode *seq, struct bs_ynode *value)
{
	bs_xgrow((void **)&seq->items, &seq->cap, seq->n + 1, sizeof(*seq->items));
	seq->items[seq->n++] = value;
	seq->weight += value->weight;
}

void bs_ynode_set_file(struct bs_ynode *node, const char *file)
{
	size_t i;

	if (node == NULL || node->file == file)
		return;
	node->file = file;
	for (i = 0; node->kind == BS_YNODE_SEQ && i < node->n; i++)
		bs_ynode_set_file(node->items[i], file);
	for (i = 0; node->kind == BS_YNODE_MAP && i < node->n; i++) {
		bs_ynode_set_file(node->pairs[i].key, file);
		bs_ynode_set_file(node->pairs[i].value, file);
	}
}

struct bs_ynode *bs_ynode_get(const struct bs_ynode *map, const char *key)
{
	size_t i;

	if (map == NULL || map->kind != BS_YNODE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->pairs[i].key->value, key) == 0)
			return map->pairs[i].value;
	return NULL;
}

bool bs_ynode_is_null(const struct bs_ynode *node)
{
	const char *v;

	if (node == NULL || node->kind != BS_YNODE_SCALAR || !node->plain)
		return false;
	v = node->value;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

const char *bs_ynode_kind_name(const struct bs_ynode *node)
{
	if (node == NULL)
		return "nothing";
	switch (node->kind) {
	case BS_YNODE_MAP: return "a mapping";
	case BS_YNODE_SEQ: return "a list";
	case BS_YNODE_SCALAR: break;
	}
	return bs_ynode_is_null(node) ? "an empty value" : "a string";
}

/* Errors that leave the tree usable: parsing goes on to find more. */
static void error_at(struct builder *b, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fatal_at(struct builder *b, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void error_at(struct builder *b, int line, int col, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bs_diags_add(b->diags, BS_DIAG_ERROR, line, col, "", "%s", msg);
}

static void fatal_at(struct builder *b, int line, int col, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	b->fatal = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bs_diags_add(b->diags, BS_DIAG_ERROR, line, col, "", "%s", msg);
}

/* 1-based line and character column of a byte offset in the input. */
static void offset_position(const struct builder *b, size_t offset, int *line, int *col)
{
	size_t i;
	int l = 1, c = 1;

	if (offset > b->len)
		offset = b->len;
	for (i = 0; i < offset; i++) {
		unsigned char ch = (unsigned char)b->data[i];

		if (ch == '\n') {
			l++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static void report_parser_error(struct builder *b, const yaml_parser_t *p)
{
	int line, col;
	char msg[512];

	if (p->error == YAML_READER_ERROR) {
		offset_position(b, p->problem_offset, &line, &col);
		if (strstr(p->problem, "UTF") != NULL || strstr(p->problem, "octet") != NULL) {
			size_t at = p->problem_offset < b->len ? p->problem_offset : b->len;
			unsigned byte;

			/* libyaml points at the offending trailing byte: show the
			 * character's first byte, where an editor shows it */
			if (strstr(p->problem, "trailing") != NULL)
				while (at > 0 && at + 3 > p->problem_offset &&
				       ((unsigned char)b->data[at] & 0xC0) != 0xC0)
					at--;
			offset_position(b, at, &line, &col);
			byte = at < b->len ? (unsigned char)b->data[at] : 0u;
			snprintf(
				msg, sizeof(msg),
				"invalid UTF-8 at byte 0x%02X (%s); is the file in another encoding such as Latin-1? Save the recipe as UTF-8",
				byte, p->problem);
		} else if (p->problem_value != -1) {
			snprintf(msg, sizeof(msg),
				 "character 0x%02X is not allowed in YAML (%s); remove it",
				 (unsigned)p->problem_value, p->problem);
		} else {
			snprintf(msg, sizeof(msg), "%s", p->problem);
		}
		fatal_at(b, line, col, "%s", msg);
		return;
	}
	line = (int)p->problem_mark.line + 1;
	col = (int)p->problem_mark.column + 1;
	if (p->problem_mark.index < b->len && b->data[p->problem_mark.index] == '\t') {
		fatal_at(
			b, line, col, "%s",
			"tab character in indentation: YAML indents with spaces only (replace the tab with spaces)");
		return;
	}
	if (p->context != NULL)
		snprintf(msg, sizeof(msg),
			 "YAML syntax error: %s %s (opened at line %d, column %d)",
			 p->problem ? p->problem : "error", p->context,
			 (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
	else
		snprintf(msg, sizeof(msg), "YAML syntax error: %s",
			 p->problem ? p->problem : "unknown error");
	fatal_at(b, line, col, "%s", msg);
}

static struct bs_ynode *find_anchor(struct builder *b, const char *name)
{
	size_t i;

	for (i = b->n_anchors; i > 0; i--)
		if (strcmp(b->anchors[i - 1].name, name) == 0)
			return b->anchors[i - 1].node;
	return NULL;
}

static void register_anchor(struct builder *b, const char *name, struct bs_ynode *node)
{
	bs_xgrow((void **)&b->anchors, &b->cap_anchors, b->n_anchors + 1, sizeof(*b->anchors));
	b->anchors[b->n_anchors].name = bs_xstrdup(name);
	b->anchors[b->n_anchors].node = node;
	node->refs++;
	b->n_anchors++;
}

static bool is_merge_key(const struct bs_ynode *key)
{
	return key->plain && strcmp(key->value, "<<") == 0;
}

static void map_add_pair(struct bs_ynode *map, struct bs_ynode *key, struct bs_ynode *value)
{
	bs_xgrow((void **)&map->pairs, &map->cap, map->n + 1, sizeof(*map->pairs));
	map->pairs[map->n].key = key;
	map->pairs[map->n].value = value;
	map->n++;
}

/* A scalar standing in for something unusable (already reported), so that
 * keys and values stay paired. */
static struct bs_ynode *placeholder(int line, int col)
{
	struct bs_ynode *n = bs_xcalloc(1, sizeof(*n));

	n->kind = BS_YNODE_SCALAR;
	n->line = line;
	n->col = col;
	n->refs = 1;
	n->weight = 1;
	n->value = bs_xstrdup("");
	n->bad = true;
	return n;
}

/* Attach a finished node to its parent (or make it the root). Takes over
 * the caller's reference. The document's node count grows by one for a new
 * node (its children were counted as they came) and by the whole subtree
 * for an alias, which repeats it. */
static void attach(struct builder *b, struct bs_ynode *node, const char *anchor, bool alias)
{
	struct frame *f;

	b->total_weight += alias ? node->weight : 1;
	if (b->total_weight > BS_YAML_MAX_NODES && !b->fatal) {
		char limit[32];

		snprintf(limit, sizeof(limit), "%d", BS_YAML_MAX_NODES);
		fatal_at(
			b, node->line, node->col,
			"document has more than %s nodes (aliases expanded); a recipe this large is a mistake or an attack (split it, or use fewer aliases)",
			limit);
	}
	if (anchor != NULL)
		register_anchor(b, anchor, node);
	if (b->depth == 0) {
		if (b->root != NULL)
			bs_ynode_unref(b->root);
		b->root = node;
		return;
	}
	f = &b->stack[b->depth - 1];
	f->node->weight += node->weight;
	if (f->node->kind == BS_YNODE_SEQ) {
		bs_xgrow((void **)&f->node->items, &f->node->cap, f->node->n + 1,
			 sizeof(*f->node->items));
		f->node->items[f->node->n++] = node;
		return;
	}
	if (f->pending_key == NULL) {
		if (node->kind != BS_YNODE_SCALAR) {
			error_at(
				b, node->line, node->col, "%s",
				"mapping keys must be plain strings, not lists or mappings (write the key as text)");
			f->pending_key = placeholder(node->line, node->col);
			bs_ynode_unref(node);
			return;
		}
		f->pending_key = node;
		return;
	}
	if (is_merge_key(f->pending_key)) {
		bs_xgrow((void **)&f->merges, &f->cap_merges, f->n_merges + 1, sizeof(*f->merges));
		f->merges[f->n_merges++] = node;
		bs_ynode_unref(f->pending_key);
		f->pending_key = NULL;
		return;
	}
	{
		struct bs_ynode *map = f->node;
		struct bs_ynode *first = NULL;
		size_t i;

		for (i = 0; i < map->n && !f->pending_key->bad; i++)
			if (strcmp(map->pairs[i].key->value, f->pending_key->value) == 0)
				first = map->pairs[i].key;
		if (first != NULL) {
			char msg[600];

			snprintf(
				msg, sizeof(msg),
				"duplicate key '%.200s' (first at line %d, column %d); remove one of them",
				f->pending_key->value, first->line, first->col);
			error_at(b, f->pending_key->line, f->pending_key->col, "%s", msg);
			bs_ynode_unref(f->pending_key);
			bs_ynode_unref(node);
		} else {
			map_add_pair(map, f->pending_key, node);
		}
		f->pending_key = NULL;
	}
}

static void merge_one(struct builder *b, struct bs_ynode *map, const struct bs_ynode *src)
{
	size_t i;

	if (src->kind != BS_YNODE_MAP) {
		error_at(
			b, src->line, src->col, "%s",
			"a merge key '<<' takes a mapping or a list of mappings (for example <<: *defaults)");
		return;
	}
	map->weight += src->weight;
	b->total_weight += src->weight;
	if (b->total_weight > BS_YAML_MAX_NODES && !b->fatal)
		fatal_at(b, src->line, src->col, "%s",
			 "merge keys expand the document past its node limit (use fewer aliases)");
	for (i = 0; i < src->n; i++) {
		if (bs_ynode_get(map, src->pairs[i].key->value) != NULL)
			continue;
		src->pairs[i].key->refs++;
		src->pairs[i].value->refs++;
		map_add_pair(map, src->pairs[i].key, src->pairs[i].value);
	}
}

/* Close the top frame: resolve merges, then attach the collection. */
static void close_frame(struct builder *b)
{
	struct frame f = b->stack[--b->depth];
	size_t i, j;

	if (f.pending_key != NULL)
		bs_ynode_unref(f.pending_key);
	for (i = 0; i < f.n_merges; i++) {
		struct bs_ynode *m = f.merges[i];

		if (m->kind == BS_YNODE_SEQ) {
			for (j = 0; j < m->n; j++)
				merge_one(b, f.node, m->items[j]);
		} else {
			merge_one(b, f.node, m);
		}
		bs_ynode_unref(m);
	}
	free(f.merges);
	attach(b, f.node, f.anchor, false);
	free(f.anchor);
}

static void open_frame(struct builder *b, struct bs_ynode *node, const yaml_char_t *anchor)
{
	struct frame *f;

	bs_xgrow((void **)&b->stack, &b->cap, b->depth + 1, sizeof(*b->stack));
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->node = node;
	f->anchor = anchor ? bs_xstrdup((const char *)anchor) : NULL;
}

static void on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct bs_ynode *n = node_new(BS_YNODE_SCALAR, ev->start_mark);
	size_t len = ev->data.scalar.length;

	n->value = bs_xstrndup((const char *)ev->data.scalar.value, len);
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.tag == NULL;
	if (strlen(n->value) != len)
		error_at(b, n->line, n->col, "%s",
			 "value contains a NUL character (remove the \\0 escape)");
	attach(b, n, (const char *)ev->data.scalar.anchor, false);
}

static void on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct bs_ynode *target = find_anchor(b, name);

	if (target == NULL) {
		int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;

		error_at(
			b, line, col,
			"alias *%s refers to no anchor defined before it (define &name first, outside the node that uses it)",
			name);
		attach(b, placeholder(line, col), NULL, false);
		return;
	}
	target->refs++;
	attach(b, target, NULL, true);
}

static void on_event(struct builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++b->documents > 1)
			fatal_at(
				b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
				"%s",
				"a recipe is one YAML document, this is a second one (remove the '---' and what follows, or merge the documents)");
		break;
	case YAML_SCALAR_EVENT: on_scalar(b, ev); break;
	case YAML_ALIAS_EVENT: on_alias(b, ev); break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (b->depth >= BS_YAML_MAX_DEPTH) {
			char limit[16];

			snprintf(limit, sizeof(limit), "%d", BS_YAML_MAX_DEPTH);
			fatal_at(
				b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
				"nesting is deeper than %s levels (a recipe never needs this; flatten it)",
				limit);
			break;
		}
		if (ev->type == YAML_SEQUENCE_START_EVENT)
			open_frame(b, node_new(BS_YNODE_SEQ, ev->start_mark),
				   ev->data.sequence_start.anchor);
		else
			open_frame(b, node_new(BS_YNODE_MAP, ev->start_mark),
				   ev->data.mapping_start.anchor);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: close_frame(b); break;
	default: break;
	}
}

struct bs_ynode *bs_ytree_parse(const char *data, size_t len, struct bs_diags *diags)
{
	struct builder b;
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	size_t i;

	memset(&b, 0, sizeof(b));
	if (len > BS_RECIPE_MAX_BYTES) {
		bs_diags_add(
			diags, BS_DIAG_ERROR, 1, 1, "",
			"more than %u bytes; a recipe may be at most that (is this the right file?)",
			BS_RECIPE_MAX_BYTES);
		return NULL;
	}
	b.data = data;
	b.len = len;
	b.diags = diags;
	if (!yaml_parser_initialize(&parser)) {
		bs_diags_add(diags, BS_DIAG_ERROR, 1, 1, "", "cannot initialise the YAML parser");
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done && !b.fatal) {
		if (!yaml_parser_parse(&parser, &ev)) {
			report_parser_error(&b, &parser);
			break;
		}
		on_event(&b, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);

	while (b.depth > 0) {
		struct frame *f = &b.stack[--b.depth];

		bs_ynode_unref(f->pending_key);
		for (i = 0; i < f->n_merges; i++)
			bs_ynode_unref(f->merges[i]);
		free(f->merges);
		free(f->anchor);
		bs_ynode_unref(f->node);
	}
	free(b.stack);
	for (i = 0; i < b.n_anchors; i++) {
		free(b.anchors[i].name);
		bs_ynode_unref(b.anchors[i].node);
	}
	free(b.anchors);
	if (b.fatal) {
		bs_ynode_unref(b.root);
		return NULL;
	}
	return b.root;
}

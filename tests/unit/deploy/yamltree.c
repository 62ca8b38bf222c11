/*
 * Unit tests for deploy/yamltree.c: libyaml events to a positioned tree.
 * Positions (1-based lines, character columns), merge keys, shared
 * aliases, duplicate keys, the limits that protect against hostile input
 * (depth, alias expansion, size) and the errors for what a recipe may not
 * be (two documents, complex keys, bad bytes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/yamltree.h"
#include "tests/unit/helpers.h"

struct parsed {
	struct bs_diags diags;
	struct bs_ynode *root;
};

static void parse(struct parsed *p, const char *text)
{
	bs_diags_init(&p->diags, "tree.yaml");
	p->root = bs_ytree_parse(text, strlen(text), &p->diags);
}

static void parsed_free(struct parsed *p)
{
	bs_ynode_unref(p->root);
	bs_diags_free(&p->diags);
}

/* The scalar value of map[key] (the key must exist and hold a scalar). */
static const char *value_of(const struct bs_ynode *map, const char *key)
{
	const struct bs_ynode *v = bs_ynode_get(map, key);

	if (v == NULL || v->kind != BS_YNODE_SCALAR)
		return "(missing)";
	return v->value;
}

static void assert_pos(const struct bs_ynode *n, int line, int col)
{
	assert_non_null(n);
	assert_int_equal(n->line, line);
	assert_int_equal(n->col, col);
}

static void test_positions_and_kinds(void **state)
{
	struct parsed p;
	const struct bs_ynode *b, *item;

	(void)state;
	parse(&p, "a: 1\n"
		  "b:\n"
		  "  - x\n"
		  "  - {k: v, n: [1, 2]}\n");
	expect_counts(&p.diags, 0, 0);
	assert_non_null(p.root);
	assert_int_equal(p.root->kind, BS_YNODE_MAP);
	assert_int_equal(p.root->n, 2);
	assert_pos(p.root, 1, 1);
	assert_pos(p.root->pairs[0].key, 1, 1);
	assert_string_equal(p.root->pairs[0].key->value, "a");
	assert_pos(p.root->pairs[0].value, 1, 4);
	b = bs_ynode_get(p.root, "b");
	assert_int_equal(b->kind, BS_YNODE_SEQ);
	assert_int_equal(b->n, 2);
	assert_pos(b, 3, 3);
	assert_pos(b->items[0], 3, 5);
	item = b->items[1];
	assert_int_equal(item->kind, BS_YNODE_MAP);
	assert_pos(item, 4, 5);
	assert_pos(bs_ynode_get(item, "k"), 4, 9);
	assert_pos(bs_ynode_get(item, "n"), 4, 15);
	assert_pos(bs_ynode_get(item, "n")->items[1], 4, 19);
	assert_null(bs_ynode_get(p.root, "missing"));
	assert_null(bs_ynode_get(b, "a")); /* not a mapping */
	assert_null(bs_ynode_get(NULL, "a"));
	parsed_free(&p);
}

/* Columns count characters, as editors do, not bytes. */
static void test_columns_count_characters(void **state)
{
	struct parsed p;
	const struct bs_ynode *seq;

	(void)state;
	parse(&p, "a: \"\xc3\xa9\xc3\xa9\"\n"
		  "b: [\xc3\xa9, x]\n");
	expect_counts(&p.diags, 0, 0);
	seq = bs_ynode_get(p.root, "b");
	assert_pos(seq->items[0], 2, 5);
	assert_pos(seq->items[1], 2, 8);
	assert_string_equal(value_of(p.root, "a"), "\xc3\xa9\xc3\xa9");
	parsed_free(&p);
}

static void test_scalar_styles(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "plain: 1\n"
		  "double: \"x\"\n"
		  "single: 'y'\n"
		  "tagged: !!str 2\n"
		  "literal: |\n"
		  "  line\n"
		  "empty:\n"
		  "tilde: ~\n"
		  "null1: null\n"
		  "null2: Null\n"
		  "null3: NULL\n"
		  "quoted_null: \"null\"\n"
		  "nul: nul\n");
	expect_counts(&p.diags, 0, 0);
	assert_true(bs_ynode_get(p.root, "plain")->plain);
	assert_false(bs_ynode_get(p.root, "double")->plain);
	assert_false(bs_ynode_get(p.root, "single")->plain);
	assert_false(bs_ynode_get(p.root, "tagged")->plain);
	assert_string_equal(value_of(p.root, "literal"), "line\n");
	assert_true(bs_ynode_is_null(bs_ynode_get(p.root, "empty")));
	assert_true(bs_ynode_is_null(bs_ynode_get(p.root, "tilde")));
	assert_true(bs_ynode_is_null(bs_ynode_get(p.root, "null1")));
	assert_true(bs_ynode_is_null(bs_ynode_get(p.root, "null2")));
	assert_true(bs_ynode_is_null(bs_ynode_get(p.root, "null3")));
	assert_false(bs_ynode_is_null(bs_ynode_get(p.root, "quoted_null")));
	assert_false(bs_ynode_is_null(bs_ynode_get(p.root, "nul")));
	assert_false(bs_ynode_is_null(bs_ynode_get(p.root, "plain")));
	assert_false(bs_ynode_is_null(NULL));
	assert_false(bs_ynode_is_null(p.root));
	assert_string_equal(bs_ynode_kind_name(p.root), "a mapping");
	assert_string_equal(bs_ynode_kind_name(bs_ynode_get(p.root, "plain")), "a string");
	assert_string_equal(bs_ynode_kind_name(bs_ynode_get(p.root, "empty")), "an empty value");
	assert_string_equal(bs_ynode_kind_name(NULL), "nothing");
	parsed_free(&p);
}

static void test_kind_name_list(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "[a]\n");
	assert_string_equal(bs_ynode_kind_name(p.root), "a list");
	parsed_free(&p);
}

/* ---- merge keys -------------------------------------------------------- */

static void test_merge_single(void **state)
{
	struct parsed p;
	const struct bs_ynode *m, *m2, *base;

	(void)state;
	parse(&p, "base: &b {a: 1, b: 2}\n"
		  "m:\n"
		  "  <<: *b\n"
		  "  b: 3\n"
		  "  c: 4\n"
		  "m2: {b: 5, <<: *b}\n");
	expect_counts(&p.diags, 0, 0);
	base = bs_ynode_get(p.root, "base");
	m = bs_ynode_get(p.root, "m");
	assert_int_equal(m->n, 3);
	assert_string_equal(value_of(m, "a"), "1");
	assert_string_equal(value_of(m, "b"), "3"); /* explicit keys win */
	assert_string_equal(value_of(m, "c"), "4");
	assert_null(bs_ynode_get(m, "<<"));
	m2 = bs_ynode_get(p.root, "m2");
	assert_int_equal(m2->n, 2);
	assert_string_equal(value_of(m2, "b"), "5"); /* also when written first */
	assert_string_equal(value_of(m2, "a"), "1");
	/* merged values are the anchor's nodes, with their own positions */
	assert_ptr_equal(bs_ynode_get(m, "a"), bs_ynode_get(base, "a"));
	assert_pos(bs_ynode_get(m, "a"), 1, 14);
	/* the anchor itself is untouched */
	assert_int_equal(base->n, 2);
	assert_string_equal(value_of(base, "b"), "2");
	parsed_free(&p);
}

static void test_merge_list(void **state)
{
	struct parsed p;
	const struct bs_ynode *m;

	(void)state;
	parse(&p, "x: &x {a: x, b: x}\n"
		  "y: &y {b: y, c: y, d: y}\n"
		  "m: {<<: [*x, *y], c: own}\n");
	expect_counts(&p.diags, 0, 0);
	m = bs_ynode_get(p.root, "m");
	assert_int_equal(m->n, 4);
	assert_string_equal(value_of(m, "a"), "x");
	assert_string_equal(value_of(m, "b"), "x"); /* earlier in the list wins */
	assert_string_equal(value_of(m, "c"), "own");
	assert_string_equal(value_of(m, "d"), "y");
	parsed_free(&p);
}

static void test_merge_in_sequence_items(void **state)
{
	struct parsed p;
	const struct bs_ynode *seq;

	(void)state;
	parse(&p, "x-service: &service\n"
		  "  restart: always\n"
		  "  user: app\n"
		  "containers:\n"
		  "  - <<: *service\n"
		  "    name: one\n"
		  "  - <<: *service\n"
		  "    name: two\n"
		  "    user: root\n");
	expect_counts(&p.diags, 0, 0);
	seq = bs_ynode_get(p.root, "containers");
	assert_int_equal(seq->n, 2);
	assert_string_equal(value_of(seq->items[0], "restart"), "always");
	assert_string_equal(value_of(seq->items[0], "user"), "app");
	assert_string_equal(value_of(seq->items[0], "name"), "one");
	assert_string_equal(value_of(seq->items[1], "user"), "root");
	assert_string_equal(value_of(seq->items[1], "name"), "two");
	parsed_free(&p);
}

static void test_merge_not_a_mapping(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "x: &x {a: 1}\n"
		  "m: {<<: just-a-string, b: 2}\n"
		  "n: {<<: [*x, [1]], c: 3}\n");
	expect_error(&p.diags, 2, 9, "", "a merge key '<<' takes a mapping or a list of mappings");
	expect_error(&p.diags, 3, 14, "", "a merge key '<<' takes a mapping");
	expect_counts(&p.diags, 2, 0);
	/* not fatal: the rest of the tree is there */
	assert_non_null(p.root);
	assert_string_equal(value_of(bs_ynode_get(p.root, "m"), "b"), "2");
	assert_string_equal(value_of(bs_ynode_get(p.root, "n"), "a"), "1");
	parsed_free(&p);
}

static void test_quoted_merge_key_is_a_key(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "m: {\"<<\": text}\n");
	expect_counts(&p.diags, 0, 0);
	assert_string_equal(value_of(bs_ynode_get(p.root, "m"), "<<"), "text");
	parsed_free(&p);
}

/* ---- aliases ----------------------------------------------------------- */

static void test_alias_shared(void **state)
{
	struct parsed p;
	const struct bs_ynode *a, *b;

	(void)state;
	parse(&p, "a: &x {k: v}\n"
		  "b: *x\n"
		  "s: &s hello\n"
		  "t: *s\n"
		  "l: [*s, *s]\n");
	expect_counts(&p.diags, 0, 0);
	a = bs_ynode_get(p.root, "a");
	b = bs_ynode_get(p.root, "b");
	assert_ptr_equal(a, b);
	assert_true(a->refs >= 2);
	assert_ptr_equal(bs_ynode_get(p.root, "s"), bs_ynode_get(p.root, "t"));
	assert_ptr_equal(bs_ynode_get(p.root, "l")->items[0], bs_ynode_get(p.root, "s"));
	assert_ptr_equal(bs_ynode_get(p.root, "l")->items[1], bs_ynode_get(p.root, "s"));
	/* the alias keeps the anchor's position */
	assert_pos(b, 1, 4);
	parsed_free(&p); /* shared nodes are freed once (valgrind checks) */
}

static void test_anchor_redefined(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: &x one\n"
		  "b: &x two\n"
		  "c: *x\n");
	expect_counts(&p.diags, 0, 0);
	assert_string_equal(value_of(p.root, "c"), "two");
	parsed_free(&p);
}

/* An alias that refers to nothing is reported; the keys around it keep
 * their values (the mapping's key/value alternation is not lost). */
static void test_alias_unknown(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: *nope\n"
		  "b: 1\n"
		  "c: 2\n");
	expect_error(&p.diags, 1, 4, "", "alias *nope refers to no anchor defined before it");
	expect_counts(&p.diags, 1, 0);
	assert_non_null(p.root);
	assert_string_equal(value_of(p.root, "b"), "1");
	assert_string_equal(value_of(p.root, "c"), "2");
	parsed_free(&p);
}

/* An anchor is usable only after its node: a node cannot contain itself. */
static void test_alias_to_own_ancestor(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: &a [1, *a]\n");
	expect_error(&p.diags, 1, 11, "", "alias *a refers to no anchor");
	parsed_free(&p);
}

static void test_alias_bomb(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		  "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		  "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		  "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n");
	assert_null(p.root);
	expect_error(&p.diags, 5, 4, "", "document has more than 200000 nodes (aliases expanded)");
	expect_counts(&p.diags, 1, 0);
	parsed_free(&p);
}

/* Merge keys repeat what they merge: they count against the same limit. */
static void test_merge_bomb(void **state)
{
	struct bs_buf text = BS_BUF_INIT;
	struct parsed p;
	int level, i;

	(void)state;
	bs_buf_puts(&text, "m0: &m0 {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v}\n");
	for (level = 1; level <= 8; level++) {
		bs_buf_printf(&text, "m%d: &m%d {<<: [", level, level);
		for (i = 0; i < 10; i++)
			bs_buf_printf(&text, "%s*m%d", i ? ", " : "", level - 1);
		bs_buf_printf(&text, "], own%d: x}\n", level);
	}
	parse(&p, bs_buf_str(&text));
	assert_null(p.root);
	assert_int_equal(p.diags.n_errors, 1);
	assert_non_null(strstr(p.diags.items[0].message, "more than 200000 nodes"));
	parsed_free(&p);
	bs_buf_free(&text);
}

static void test_aliases_below_limit(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		  "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n");
	expect_counts(&p.diags, 0, 0);
	assert_non_null(p.root);
	parsed_free(&p);
}

/* ---- duplicate keys ---------------------------------------------------- */

static void test_duplicate_keys(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "k: 1\n"
		  "other: 2\n"
		  "k: 3\n"
		  "m: {x: 1, y: 2, x: 3}\n"
		  "n:\n"
		  "  deep: a\n"
		  "  deep: b\n");
	expect_error(&p.diags, 3, 1, "",
		     "duplicate key 'k' (first at line 1, column 1); remove one of them");
	expect_error(&p.diags, 4, 17, "", "duplicate key 'x' (first at line 4, column 5)");
	expect_error(&p.diags, 7, 3, "", "duplicate key 'deep' (first at line 6, column 3)");
	expect_counts(&p.diags, 3, 0);
	/* not fatal: the first value is kept, the rest parsed */
	assert_non_null(p.root);
	assert_string_equal(value_of(p.root, "k"), "1");
	assert_int_equal(bs_ynode_get(p.root, "m")->n, 2);
	assert_string_equal(value_of(bs_ynode_get(p.root, "m"), "x"), "1");
	assert_string_equal(value_of(bs_ynode_get(p.root, "n"), "deep"), "a");
	parsed_free(&p);
}

static void test_same_key_in_different_maps(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: {k: 1}\n"
		  "b: {k: 2}\n"
		  "c: [{k: 1}, {k: 2}]\n");
	expect_counts(&p.diags, 0, 0);
	parsed_free(&p);
}

/* ---- limits and document shape ----------------------------------------- */

static char *nested_lists(int levels)
{
	struct bs_buf b = BS_BUF_INIT;
	int i;

	for (i = 0; i < levels; i++)
		bs_buf_putc(&b, '[');
	bs_buf_puts(&b, "deep");
	for (i = 0; i < levels; i++)
		bs_buf_putc(&b, ']');
	bs_buf_putc(&b, '\n');
	return bs_buf_detach(&b);
}

static void test_depth_limit(void **state)
{
	char *ok = nested_lists(BS_YAML_MAX_DEPTH);
	char *deep = nested_lists(BS_YAML_MAX_DEPTH + 1);
	char *huge = nested_lists(100000);
	struct parsed p;

	(void)state;
	parse(&p, ok);
	expect_counts(&p.diags, 0, 0);
	assert_non_null(p.root);
	parsed_free(&p);

	parse(&p, deep);
	assert_null(p.root);
	expect_error(&p.diags, 1, 65, "", "nesting is deeper than 64 levels");
	expect_counts(&p.diags, 1, 0);
	parsed_free(&p);

	parse(&p, huge);
	assert_null(p.root);
	expect_error(&p.diags, 1, 65, "", "nesting is deeper than 64 levels");
	parsed_free(&p);
	free(ok);
	free(deep);
	free(huge);
}

static void test_size_limit(void **state)
{
	size_t len = BS_RECIPE_MAX_BYTES + 1;
	char *big = malloc(len);
	struct bs_diags d;

	(void)state;
	assert_non_null(big);
	memset(big, '#', len);
	bs_diags_init(&d, "big.yaml");
	assert_null(bs_ytree_parse(big, len, &d));
	expect_error(&d, 1, 1, "", "4194304 bytes");
	expect_counts(&d, 1, 0);
	bs_diags_free(&d);
	free(big);
}

static void test_empty_documents(void **state)
{
	static const char *const empties[] = {"", "\n\n", "# only a comment\n",
					      "   # indented comment\n\n# another\n"};
	struct parsed p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		parse(&p, empties[i]);
		assert_null(p.root);
		expect_counts(&p.diags, 0, 0);
		parsed_free(&p);
	}
	/* an explicit empty document is one null value */
	parse(&p, "---\n");
	expect_counts(&p.diags, 0, 0);
	assert_non_null(p.root);
	assert_true(bs_ynode_is_null(p.root));
	parsed_free(&p);
}

static void test_two_documents(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: 1\n"
		  "---\n"
		  "b: 2\n");
	assert_null(p.root);
	expect_error(&p.diags, 2, 1, "", "a recipe is one YAML document, this is a second one");
	expect_counts(&p.diags, 1, 0);
	parsed_free(&p);
}

static void test_complex_key(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "? [web, db]\n"
		  ": nodes\n"
		  "z: 1\n");
	expect_error(&p.diags, 1, 3, "",
		     "mapping keys must be plain strings, not lists or mappings");
	expect_counts(&p.diags, 1, 0);
	assert_non_null(p.root);
	assert_string_equal(value_of(p.root, "z"), "1");
	parsed_free(&p);
}

static void test_syntax_errors(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: [1, 2\n"
		  "b: 3\n");
	assert_null(p.root);
	expect_error(
		&p.diags, 2, 2, "",
		"YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence (opened at line 1, column 4)");
	expect_counts(&p.diags, 1, 0);
	parsed_free(&p);

	parse(&p, "a:\n"
		  "  b: 1\n"
		  "\tc: 2\n");
	assert_null(p.root);
	expect_error(&p.diags, 3, 1, "",
		     "tab character in indentation: YAML indents with spaces only");
	expect_counts(&p.diags, 1, 0);
	parsed_free(&p);

	parse(&p, "a: \"open\n");
	assert_null(p.root);
	expect_error(
		&p.diags, 2, 1, "",
		"found unexpected end of stream while scanning a quoted scalar (opened at line 1, column 4)");
	parsed_free(&p);
}

static void test_bad_characters(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "a: \"ab\x01"
		  "cd\"\n");
	assert_null(p.root);
	expect_error(&p.diags, 1, 7, "", "character 0x01 is not allowed in YAML");
	parsed_free(&p);

	/* the \0 escape in a double-quoted string: not fatal */
	parse(&p, "a: \"abc\\0def\"\n"
		  "b: 1\n");
	expect_error(&p.diags, 1, 4, "", "value contains a NUL character (remove the \\0 escape)");
	expect_counts(&p.diags, 1, 0);
	assert_non_null(p.root);
	assert_string_equal(value_of(p.root, "b"), "1");
	parsed_free(&p);

	parse(&p, "a: \"caf\xc3\xa9 \xff ok\"\n");
	assert_null(p.root);
	expect_error(&p.diags, 1, 10, "",
		     "invalid UTF-8 at byte 0xFF (invalid leading UTF-8 octet)");
	parsed_free(&p);
}

/* A Latin-1 byte followed by ASCII: the report names the bad byte, at its
 * own column, not the byte after it. */
static void test_latin1_byte_position(void **state)
{
	struct parsed p;

	(void)state;
	parse(&p, "k: \"caf\xe9 au lait\"\n");
	assert_null(p.root);
	expect_error(&p.diags, 1, 8, "", "invalid UTF-8 at byte 0xE9");
	expect_counts(&p.diags, 1, 0);
	parsed_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions_and_kinds),
		cmocka_unit_test(test_columns_count_characters),
		cmocka_unit_test(test_scalar_styles),
		cmocka_unit_test(test_kind_name_list),
		cmocka_unit_test(test_merge_single),
		cmocka_unit_test(test_merge_list),
		cmocka_unit_test(test_merge_in_sequence_items),
		cmocka_unit_test(test_merge_not_a_mapping),
		cmocka_unit_test(test_quoted_merge_key_is_a_key),
		cmocka_unit_test(test_alias_shared),
		cmocka_unit_test(test_anchor_redefined),
		cmocka_unit_test(test_alias_unknown),
		cmocka_unit_test(test_alias_to_own_ancestor),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_merge_bomb),
		cmocka_unit_test(test_aliases_below_limit),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_same_key_in_different_maps),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_empty_documents),
		cmocka_unit_test(test_two_documents),
		cmocka_unit_test(test_complex_key),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_bad_characters),
		cmocka_unit_test(test_latin1_byte_position),
	};

	return cmocka_run_group_tests_name("deploy/yamltree", tests, NULL, NULL);
}

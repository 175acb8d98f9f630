/*
 * json.c — strict JSON parsing into a tree, and a writer with escaping.
 *
 * Supervisor only. The reader accepts exactly RFC 8259 (no comments, no trailing commas,
 * no duplicate keys); strings are decoded to UTF-8 (lone surrogates as WTF-8).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

#define JSON_MAX_DEPTH 32

struct parser {
	const char *s, *end;
	int depth;
};

static int parse_value(struct parser *p, struct jval *v);

static void skip_ws(struct parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static int expect_word(struct parser *p, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
		return -1;
	p->s += n;
	return 0;
}

static int hex4(struct parser *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	if (p->end - p->s < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		char c = *p->s++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = 0xc0 | cp >> 6;
		o[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = 0xe0 | cp >> 12;
		o[1] = 0x80 | ((cp >> 6) & 0x3f);
		o[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	o[0] = 0xf0 | cp >> 18;
	o[1] = 0x80 | ((cp >> 12) & 0x3f);
	o[2] = 0x80 | ((cp >> 6) & 0x3f);
	o[3] = 0x80 | (cp & 0x3f);
	return 4;
}

static int parse_escape(struct parser *p, char *o, size_t *len)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;
	unsigned cp, lo;

	if (p->s >= p->end)
		return -1;
	if (*p->s != 'u') {
		if (!(hit = strchr(from, *p->s)) || !*p->s)
			return -1;
		p->s++;
		o[(*len)++] = to[hit - from];
		return 0;
	}
	p->s++;
	if (hex4(p, &cp) < 0)
		return -1;
	if (cp >= 0xd800 && cp < 0xdc00 && p->end - p->s >= 6 && p->s[0] == '\\' &&
	    p->s[1] == 'u') {
		const char *save = p->s;
		p->s += 2;
		if (hex4(p, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000)
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		else
			p->s = save;
	}
	*len += utf8_put(o + *len, cp);
	return 0;
}

static int parse_string(struct parser *p, char **out, size_t *outlen)
{
	const char *start = ++p->s;
	size_t len = 0;
	char *o;

	while (p->s < p->end && *p->s != '"')
		p->s += (*p->s == '\\' && p->s + 1 < p->end) ? 2 : 1;
	if (p->s >= p->end)
		return -1;
	o = xmalloc(p->s - start + 1); /* decoding never grows a string */
	for (p->s = start; *p->s != '"';) {
		unsigned char c = *p->s++;
		if (c < 0x20 || (c == '\\' && parse_escape(p, o, &len) < 0)) {
			free(o);
			return -1;
		}
		if (c != '\\')
			o[len++] = c;
	}
	p->s++;
	o[len] = '\0';
	*out = o;
	*outlen = len;
	return 0;
}

static int parse_number(struct parser *p, struct jval *v)
{
	const char *start = p->s;
	bool integral = true;
	char buf[64];

	if (p->s < p->end && *p->s == '-')
		p->s++;
	if (p->s >= p->end || *p->s < '0' || *p->s > '9')
		return -1;
	if (*p->s == '0')
		p->s++;
	else
		while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
			p->s++;
	if (p->s < p->end && *p->s == '.') {
		integral = false;
		if (++p->s >= p->end || *p->s < '0' || *p->s > '9')
			return -1;
		while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
			p->s++;
	}
	if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
		integral = false;
		if (++p->s < p->end && (*p->s == '+' || *p->s == '-'))
			p->s++;
		if (p->s >= p->end || *p->s < '0' || *p->s > '9')
			return -1;
		while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
			p->s++;
	}
	v->type = J_NUM;
	if (integral && p->s - start < 19) {
		memcpy(buf, start, p->s - start);
		buf[p->s - start] = '\0';
		v->is_int = true;
		v->i = strtoll(buf, NULL, 10);
	}
	return 0;
}

static void push_item(struct jval *v, size_t *cap)
{
	if (v->n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		v->items = xrealloc(v->items, *cap * sizeof(*v->items));
		if (v->type == J_OBJ)
			v->keys = xrealloc(v->keys, *cap * sizeof(*v->keys));
	}
	memset(&v->items[v->n], 0, sizeof(*v->items));
	v->n++;
}

static int parse_member(struct parser *p, struct jval *v, size_t *cap)
{
	char *key;
	size_t len;

	skip_ws(p);
	if (p->s >= p->end || *p->s != '"' || parse_string(p, &key, &len) < 0)
		return -1;
	if (json_get(v, key) || strlen(key) != len) { /* duplicate or NUL in key */
		free(key);
		return -1;
	}
	push_item(v, cap);
	v->keys[v->n - 1] = key;
	skip_ws(p);
	if (p->s >= p->end || *p->s++ != ':')
		return -1;
	return parse_value(p, &v->items[v->n - 1]);
}

static int parse_container(struct parser *p, struct jval *v, char close)
{
	size_t cap = 0;

	v->type = close == '}' ? J_OBJ : J_ARR;
	if (++p->depth > JSON_MAX_DEPTH)
		return -1;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == close) {
		p->s++;
		return p->depth--, 0;
	}
	for (;;) {
		if (v->type == J_OBJ
			    ? parse_member(p, v, &cap) < 0
			    : (push_item(v, &cap), parse_value(p, &v->items[v->n - 1])) < 0)
			return -1;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == close) {
			p->s++;
			break;
		}
		return -1;
	}
	p->depth--;
	return 0;
}

static int parse_value(struct parser *p, struct jval *v)
{
	skip_ws(p);
	if (p->s >= p->end)
		return -1;
	switch (*p->s) {
	case '{': return parse_container(p, v, '}');
	case '[': return parse_container(p, v, ']');
	case '"': v->type = J_STR; return parse_string(p, &v->str, &v->len);
	case 't':
		v->type = J_BOOL;
		v->b = true;
		return expect_word(p, "true");
	case 'f': v->type = J_BOOL; return expect_word(p, "false");
	case 'n': v->type = J_NULL; return expect_word(p, "null");
	default: return parse_number(p, v);
	}
}

int json_parse(const char *s, size_t n, struct jval *out)
{
	struct parser p = { s, s + n, 0 };

	memset(out, 0, sizeof(*out));
	if (parse_value(&p, out) < 0)
		return json_free(out), -1;
	skip_ws(&p);
	if (p.s != p.end)
		return json_free(out), -1;
	return 0;
}

void json_free(struct jval *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		json_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	memset(v, 0, sizeof(*v));
}

static void copy_into(const struct jval *from, struct jval *to)
{
	size_t i;

	*to = *from;
	to->str = from->str ? xstrdup(from->str) : NULL;
	to->items = from->n ? xcalloc(from->n, sizeof(*to->items)) : NULL;
	to->keys = from->keys && from->n ? xcalloc(from->n, sizeof(*to->keys)) : NULL;
	for (i = 0; i < from->n; i++) {
		copy_into(&from->items[i], &to->items[i]);
		if (to->keys)
			to->keys[i] = xstrdup(from->keys[i]);
	}
}

struct jval *json_dup(const struct jval *v)
{
	struct jval *copy = xcalloc(1, sizeof(*copy));

	copy_into(v, copy);
	return copy;
}

void json_drop(struct jval *copy)
{
	if (!copy)
		return;
	json_free(copy);
	free(copy);
}

const struct jval *json_get(const struct jval *obj, const char *key)
{
	size_t i;

	if (obj->type != J_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (obj->keys[i] && strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

const char *json_type_name(enum jtype t)
{
	static const char *const names[] = { "null",   "boolean", "number",
					     "string", "array",	  "object" };

	return names[t];
}

/* ---- writer ---- */

static void jb_putn(struct jbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void jb_raw(struct jbuf *b, const char *s)
{
	jb_putn(b, s, strlen(s));
}

void jb_str(struct jbuf *b, const char *s)
{
	char esc[8];

	if (!s) {
		jb_raw(b, "null");
		return;
	}
	jb_putn(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = c;
			jb_putn(b, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			jb_putn(b, esc, 6);
		} else {
			jb_putn(b, s, 1);
		}
	}
	jb_putn(b, "\"", 1);
}

void jb_obj(struct jbuf *b)
{
	jb_putn(b, "{", 1);
}

void jb_end(struct jbuf *b)
{
	jb_putn(b, "}", 1);
}

void jb_key(struct jbuf *b, const char *key)
{
	if (b->len && b->p[b->len - 1] != '{')
		jb_putn(b, ",", 1);
	jb_str(b, key);
	jb_putn(b, ":", 1);
}

void jb_kstr(struct jbuf *b, const char *key, const char *val)
{
	jb_key(b, key);
	jb_str(b, val);
}

void jb_kint(struct jbuf *b, const char *key, long long val)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", val);
	jb_key(b, key);
	jb_raw(b, num);
}

void jb_kbool(struct jbuf *b, const char *key, bool val)
{
	jb_key(b, key);
	jb_raw(b, val ? "true" : "false");
}

void jb_knull(struct jbuf *b, const char *key)
{
	jb_key(b, key);
	jb_raw(b, "null");
}

void jb_free(struct jbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

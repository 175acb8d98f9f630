/*
 * json.h — a small strict JSON reader (requests from Node) and writer (replies and events).
 *
 * Supervisor only.
 */
#ifndef SANDKIT_JSON_H
#define SANDKIT_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype type;
	bool b;
	bool is_int; /* J_NUM without fraction or exponent, fits in long long */
	long long i;
	char *str; /* J_STR, NUL-terminated; len excludes the NUL */
	size_t len;
	size_t n; /* J_ARR, J_OBJ: number of items */
	struct jval *items;
	char **keys; /* J_OBJ: keys[n] */
};

/* Parse exactly one JSON value spanning s[0..n). Returns -1 on a syntax error. */
int json_parse(const char *s, size_t n, struct jval *out);
void json_free(struct jval *v);
/* A deep copy of v on the heap, that outlives the line v was parsed from; json_drop frees it. */
struct jval *json_dup(const struct jval *v);
void json_drop(struct jval *copy);
/* The member named key of an object, or NULL. */
const struct jval *json_get(const struct jval *obj, const char *key);
const char *json_type_name(enum jtype t);

/* A growing output buffer. Objects get their commas automatically. */
struct jbuf {
	char *p;
	size_t len, cap;
};

void jb_raw(struct jbuf *b, const char *s);
void jb_str(struct jbuf *b, const char *s);   /* a quoted, escaped string or null */
void jb_obj(struct jbuf *b);		      /* { */
void jb_end(struct jbuf *b);		      /* } */
void jb_key(struct jbuf *b, const char *key); /* ,"key": */
void jb_kstr(struct jbuf *b, const char *key, const char *val); /* NULL → null */
void jb_kint(struct jbuf *b, const char *key, long long val);
void jb_kbool(struct jbuf *b, const char *key, bool val);
void jb_knull(struct jbuf *b, const char *key);
void jb_free(struct jbuf *b);

#endif

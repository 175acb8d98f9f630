/*
 * proto_read.c — the checks every request field goes through (see proto_read.h).
 *
 * Supervisor only.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "proto_read.h"
#include "security.h"

int proto_fail(struct err *e, const char *where, const char *key, const char *what)
{
	return err_msg(e, STEP_PROTOCOL, "%s%s: %s", where, key, what);
}

int proto_check_keys(const struct jval *o, const char *where, const char *const *keys,
		     struct err *e)
{
	size_t i, k, n = strlen(where);

	if (o->type != J_OBJ)
		return err_msg(e, STEP_PROTOCOL, "%.*s: must be an object",
			       n ? (int)n - (where[n - 1] == '.') : 7, n ? where : "request");
	for (i = 0; i < o->n; i++) {
		for (k = 0; keys[k] && strcmp(keys[k] + (keys[k][0] == '?'), o->keys[i]) != 0; k++)
			;
		if (!keys[k])
			return proto_fail(e, where, o->keys[i], "unknown field");
	}
	for (k = 0; keys[k]; k++)
		if (keys[k][0] != '?' && !json_get(o, keys[k]))
			return proto_fail(e, where, keys[k], "missing field");
	return 0;
}

int proto_field(const struct jval *o, const char *where, const char *key, bool optional,
		bool nullable, const struct jval **v, struct err *e)
{
	*v = json_get(o, key);
	if (!*v)
		return optional ? 0 : proto_fail(e, where, key, "missing field");
	if (nullable && (*v)->type == J_NULL) {
		*v = NULL;
		return 0;
	}
	return 1;
}

static int fail_with(struct err *e, const char *where, const char *key, const char *error,
		     const char *what)
{
	return proto_fail(e, where, key, error ? error : what);
}

static int check_type(const struct jval *v, const char *where, const char *key, enum jtype t,
		      const char *error, struct err *e)
{
	char what[32];

	if (v->type == t)
		return 0;
	snprintf(what, sizeof(what), "must be %s %s", t == J_ARR || t == J_OBJ ? "an" : "a",
		 json_type_name(t));
	return fail_with(e, where, key, error, what);
}

static bool is_ifname(const char *s)
{
	return s[0] && strlen(s) < IFNAMSIZ && !strpbrk(s, "/: \t\n");
}

static bool is_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

static bool is_plain_name(const char *s)
{
	return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* The format's check, and what its failure says. */
static const char *format_failure(enum proto_format f, const char *s)
{
	switch (f) {
	case PROTO_FMT_NONE: return NULL;
	case PROTO_FMT_PATH:
		if (s[0] != '/')
			return "must be an absolute path";
		return strlen(s) >= ERR_PATH_MAX ? "is too long" : NULL;
	case PROTO_FMT_IFNAME:
		return is_ifname(s) ? NULL : "must be an interface name (1 to 15 characters)";
	case PROTO_FMT_IPV4: return is_ipv4(s) ? NULL : "must be an IPv4 address";
	case PROTO_FMT_PLAIN_NAME: return is_plain_name(s) ? NULL : "must be a plain name";
	case PROTO_FMT_CAPABILITY: return caps_number(s) >= 0 ? NULL : "must be a capability name";
	}
	return NULL;
}

static bool listed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

int proto_check_str(const struct jval *v, const char *where, const char *key,
		    const struct proto_str *spec, const char **out, struct err *e)
{
	const char *bad;
	char what[64];

	if (check_type(v, where, key, J_STR, spec->error, e) < 0)
		return -1;
	if (strlen(v->str) != v->len)
		return fail_with(e, where, key, spec->error, "must not contain NUL characters");
	if (v->len < spec->min_len)
		bad = "must not be empty";
	else if (spec->max_len && v->len > spec->max_len)
		bad = (snprintf(what, sizeof(what), "must be at most %zu bytes", spec->max_len),
		       what);
	else if (spec->one_of && !listed(spec->one_of, v->str))
		bad = "is not one of the values allowed";
	else if (spec->not &&listed(spec->not, v->str))
		bad = "is a reserved name";
	else
		bad = format_failure(spec->format, v->str);
	if (bad)
		return fail_with(e, where, key, spec->error,
				 spec->value_error ? spec->value_error : bad);
	*out = v->str;
	return 0;
}

int proto_check_int(const struct jval *v, const char *where, const char *key,
		    const struct proto_int *spec, long long *out, struct err *e)
{
	char what[80];

	if (v->type != J_NUM || !v->is_int || v->i < spec->min || v->i > spec->max) {
		snprintf(what, sizeof(what), "must be an integer from %lld to %lld", spec->min,
			 spec->max);
		return fail_with(e, where, key, spec->error, what);
	}
	*out = v->i;
	return 0;
}

int proto_check_bool(const struct jval *v, const char *where, const char *key, const char *error,
		     bool *out, struct err *e)
{
	if (check_type(v, where, key, J_BOOL, error, e) < 0)
		return -1;
	*out = v->b;
	return 0;
}

int proto_check_array(const struct jval *v, const char *where, const char *key,
		      const struct proto_arr *spec, const struct jval **out, struct err *e)
{
	char what[48];

	if (check_type(v, where, key, J_ARR, spec->error, e) < 0)
		return -1;
	if (spec->length && v->n != spec->length) {
		snprintf(what, sizeof(what), "must have %zu entries", spec->length);
		return fail_with(e, where, key, spec->error, what);
	}
	if (spec->max_items && v->n > spec->max_items)
		return fail_with(e, where, key, spec->error,
				 spec->max_items_error ? spec->max_items_error
						       : "has too many entries");
	*out = v;
	return 0;
}

int proto_check_object(const struct jval *v, const char *where, const char *key,
		       const char *const *keys, const char *error, const struct jval **out,
		       struct err *e)
{
	char w[WHERE_MAX];

	if (check_type(v, where, key, J_OBJ, error, e) < 0)
		return -1;
	snprintf(w, sizeof(w), "%s%s.", where, key);
	if (proto_check_keys(v, w, keys, e) < 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * proto_read.h — the checks every request field goes through.
 *
 * Supervisor only. proto_gen.c (generated from spec/protocol.json) describes each field with
 * these structs and calls these functions; the hand-written decoders (proto_*.c) call the
 * generated readers. Every failure is a protocol error "<where><key>: <what>".
 */
#ifndef SANDKIT_PROTO_READ_H
#define SANDKIT_PROTO_READ_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "json.h"

#define WHERE_MAX 96

enum proto_format {
	PROTO_FMT_NONE,
	PROTO_FMT_PATH,	      /* absolute, shorter than ERR_PATH_MAX */
	PROTO_FMT_IFNAME,     /* 1 to 15 characters, no '/', ':' or blanks */
	PROTO_FMT_IPV4,	      /* dotted quad */
	PROTO_FMT_PLAIN_NAME, /* one path component: no '/', not "." or ".." */
	PROTO_FMT_CAPABILITY, /* "CAP_..." known to caps.c */
};

struct proto_str {
	enum proto_format format;
	size_t min_len, max_len;   /* max_len 0: no limit */
	const char *const *one_of; /* the values allowed, NULL-terminated, or NULL: any */
	const char *const * not ;  /* values refused, NULL-terminated, or NULL */
	const char *value_error;   /* for a failed length, value or format check; NULL: generic */
	const char *error;	   /* replaces the message of any failure, or NULL */
};

struct proto_int {
	long long min, max;
	const char *error;
};

struct proto_arr {
	size_t length;	  /* exact number of items, 0: any */
	size_t max_items; /* 0: no limit */
	const char *max_items_error;
	const char *error;
};

/* A protocol error "<where><key>: <what>"; returns -1. */
int proto_fail(struct err *e, const char *where, const char *key, const char *what);
/* o must be an object whose keys are all in keys ("?key": optional) and has every other
 * one. where: the prefix of its keys ("config.binds[0].", "" for a request). */
int proto_check_keys(const struct jval *o, const char *where, const char *const *keys,
		     struct err *e);
/* The member key of o: 1 with *v set; 0 when it is absent and optional or null and nullable
 * (*v NULL); -1 when it is missing. */
int proto_field(const struct jval *o, const char *where, const char *key, bool optional,
		bool nullable, const struct jval **v, struct err *e);

int proto_check_str(const struct jval *v, const char *where, const char *key,
		    const struct proto_str *spec, const char **out, struct err *e);
int proto_check_int(const struct jval *v, const char *where, const char *key,
		    const struct proto_int *spec, long long *out, struct err *e);
int proto_check_bool(const struct jval *v, const char *where, const char *key, const char *error,
		     bool *out, struct err *e);
int proto_check_array(const struct jval *v, const char *where, const char *key,
		      const struct proto_arr *spec, const struct jval **out, struct err *e);
/* v must be an object with these keys; they are checked with where "<where><key>.". */
int proto_check_object(const struct jval *v, const char *where, const char *key,
		       const char *const *keys, const char *error, const struct jval **out,
		       struct err *e);

#endif

/*
 * proto_decoders.h — one decoder per request type (proto_dispatch.c picks it by `type`).
 *
 * Supervisor only. Each gets the whole request object, whose `type` and `req` are read.
 */
#ifndef SANDKIT_PROTO_DECODERS_H
#define SANDKIT_PROTO_DECODERS_H

#include "proto.h"

int proto_decode_create(const struct jval *v, struct request *r,
			struct err *e);						/* proto_create.c */
int proto_decode_spawn(const struct jval *v, struct request *r, struct err *e); /* proto_spawn.c */
int proto_decode_fs(const struct jval *v, struct request *r, struct err *e);	/* proto_files.c */

#endif

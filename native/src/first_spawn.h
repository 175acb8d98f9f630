/*
 * first_spawn.h — a create's first spawn, held until its sandbox is ready (first_spawn.c).
 *
 * Supervisor only. `create` may carry the sandbox's first `spawn` request (spec/protocol.json,
 * create.spawn), so a cold sandbox costs Node one round trip: the spawn is checked with the
 * create, kept (a copy of its JSON, json_dup, in the sandbox's entry) while the init builds the root, and sent to the init right
 * after `created`. When the create fails, the spawn is answered with the create's error.
 */
#ifndef SANDKIT_FIRST_SPAWN_H
#define SANDKIT_FIRST_SPAWN_H

#include <stdbool.h>

#include "error.h"
#include "json.h"

struct sandbox;

/* The create's `spawn` field (v): a valid spawn request for `sandbox`, else -1 with e. */
int first_spawn_check(const struct jval *v, const char *sandbox, struct err *e);
/* The sandbox is ready: run its first spawn, if any (answered as any spawn is). */
void first_spawn_run(struct sandbox *sb);
/* The create failed (destroyed: a destroy cut it short): answer the first spawn with e. */
void first_spawn_fail(struct sandbox *sb, const struct err *e, bool destroyed);
/* The create was refused before its sandbox existed: answer v, the spawn it carried, with e. */
void first_spawn_refuse(const struct jval *v, const char *sandbox, const struct err *e);

#endif

/*
 * args.h — command-line options (--features, --version) and the feature probe.
 *
 * Supervisor only.
 */
#ifndef SANDKIT_ARGS_H
#define SANDKIT_ARGS_H

#include "json.h"

#define HELPER_VERSION "0.1.0"

enum args_action { ARGS_RUN, ARGS_DONE, ARGS_USAGE };

/* Handle the command line; ARGS_RUN means: run as the supervisor. */
enum args_action args_parse(int argc, char **argv);

/* Append the features object ({"version":1,"kernel":...}) to b. */
void args_features_json(struct jbuf *b);

#endif

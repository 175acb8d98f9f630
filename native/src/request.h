/*
 * request.h — reading request lines from Node and dispatching them.
 *
 * Supervisor only.
 */
#ifndef SANDKIT_REQUEST_H
#define SANDKIT_REQUEST_H

enum request_status { REQUEST_OK, REQUEST_EOF, REQUEST_NOT_JSON };

/* Read what the channel has and handle every complete line. */
enum request_status request_read(int channel);

#endif

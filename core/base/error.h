/* One error space: 0 is success, a negative errno (libuv's UV_E* are the
 * same numbers) is failure. */
#ifndef WAFA_ERROR_H
#define WAFA_ERROR_H

#define WAFA_WUR __attribute__((warn_unused_result))

const char *wafa_strerror(int err);

#endif

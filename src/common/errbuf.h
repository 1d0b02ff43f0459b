/* errbuf.h — formatting into the caller's error buffer (the err/err_size pairs of the
 * public API). Safe with err == NULL or size 0; always NUL-terminates. */
#ifndef SP_ERRBUF_H
#define SP_ERRBUF_H
#include <stddef.h>

void sp_errf(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif

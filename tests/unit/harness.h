/* A ten-line unit-test harness (in the spirit of redis' testhelp.h).
 * Each CHECK prints nothing on success; each TEST block prints "ok - name" or
 * "not ok - name"; tests/run.sh counts those lines. main() returns non-zero on failure. */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H
#include <stdio.h>
#include <math.h>
static int th_failed_total, th_failed_cur;
static const char *th_name;
#define TEST(name) for (th_name = (name), th_failed_cur = 0, printf("# %s\n", th_name); th_name; \
        printf("%s - %s\n", th_failed_cur ? "not ok" : "ok", th_name), th_failed_total += th_failed_cur != 0, th_name = NULL)
#define CHECK(cond) do { if (!(cond)) { th_failed_cur++; \
        fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) do { if (!(cond)) { th_failed_cur++; \
        fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define TEST_EXIT() return th_failed_total ? 1 : 0
#endif

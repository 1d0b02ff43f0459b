/* ss_clock.h — the two clocks of the session layer. Wall time (Unix seconds, fractional)
 * goes into documents and logs only; every age, deadline and timeout is measured on the
 * monotonic clock, so a clock step never expires or stalls a request (T11, T22). */
#ifndef SS_CLOCK_H
#define SS_CLOCK_H

double ss_wall_now(void);
double ss_mono_now(void);

#endif

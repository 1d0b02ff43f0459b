/* qx_dispatch.h — the body of every wh_gemv_qx_* kernel: the repacked type and the number of
 * activation rows made compile-time constants (the accumulators stay in registers, each
 * type's unpacking is its own loop), then ROWS(type, M, ...) — the including file's row loop
 * over [n0, n1) — with the kernel's arguments as they are named in kernels.h. */
#ifndef WH_QX_DISPATCH_H
#define WH_QX_DISPATCH_H

#define QX_ROWS_CALL(ROWS, XT, MM) ROWS(XT, MM, K, xq, dx, cs, sx, W, n0, n1, bias, C, ldc, accumulate)
/* CASE(ROWS, type, MM) for the weights' repacked type */
#define QX_TYPE_SWITCH(CASE, ROWS, MM)                        \
    switch (W->type) {                                        \
    case WH_Q8X: CASE(ROWS, WH_Q8X, MM); break;               \
    case WH_Q5X: CASE(ROWS, WH_Q5X, MM); break;               \
    case WH_Q51X: CASE(ROWS, WH_Q51X, MM); break;             \
    case WH_Q4X: CASE(ROWS, WH_Q4X, MM); break;               \
    default: CASE(ROWS, WH_Q41X, MM); break;                  \
    }
#define QX_M_CASES(ROWS, XT, MM_UNUSED)                       \
    switch (M) {                                              \
    case 1: QX_ROWS_CALL(ROWS, XT, 1); break;                 \
    case 2: QX_ROWS_CALL(ROWS, XT, 2); break;                 \
    case 3: QX_ROWS_CALL(ROWS, XT, 3); break;                 \
    case 4: QX_ROWS_CALL(ROWS, XT, 4); break;                 \
    case 5: QX_ROWS_CALL(ROWS, XT, 5); break;                 \
    case 6: QX_ROWS_CALL(ROWS, XT, 6); break;                 \
    default: QX_ROWS_CALL(ROWS, XT, 7); break;                \
    }
/* every type at M = 1 .. 7 (more rows as 7's instantiation: callers pass at most 7) */
#define QX_DISPATCH(ROWS) QX_TYPE_SWITCH(QX_M_CASES, ROWS, 0)
/* every type at one fixed row count MM (the 512-bit kernel's tall calls) */
#define QX_DISPATCH_M(ROWS, MM) QX_TYPE_SWITCH(QX_ROWS_CALL, ROWS, MM)
#endif

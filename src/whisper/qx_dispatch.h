/* qx_dispatch.h — the body of every wh_gemv_qx_* kernel: the repacked type and the number of
 * activation rows made compile-time constants (the accumulators stay in registers, each
 * type's unpacking is its own loop), then ROWS(type, M, ...) — the including file's row loop
 * over [n0, n1) — with the kernel's arguments as they are named in kernels.h. */
#ifndef WH_QX_DISPATCH_H
#define WH_QX_DISPATCH_H

#define QX_ROWS_CALL(ROWS, XT, MM) ROWS(XT, MM, K, xq, dx, cs, sx, W, n0, n1, bias, C, ldc, accumulate)
#define QX_M_CASES(ROWS, XT)                                  \
    switch (M) {                                              \
    case 1: QX_ROWS_CALL(ROWS, XT, 1); break;                 \
    case 2: QX_ROWS_CALL(ROWS, XT, 2); break;                 \
    case 3: QX_ROWS_CALL(ROWS, XT, 3); break;                 \
    case 4: QX_ROWS_CALL(ROWS, XT, 4); break;                 \
    case 5: QX_ROWS_CALL(ROWS, XT, 5); break;                 \
    case 6: QX_ROWS_CALL(ROWS, XT, 6); break;                 \
    default: QX_ROWS_CALL(ROWS, XT, 7); break;                \
    }
#define QX_DISPATCH(ROWS)                                     \
    switch (W->type) {                                        \
    case WH_Q8X: QX_M_CASES(ROWS, WH_Q8X); break;             \
    case WH_Q5X: QX_M_CASES(ROWS, WH_Q5X); break;             \
    case WH_Q51X: QX_M_CASES(ROWS, WH_Q51X); break;           \
    case WH_Q4X: QX_M_CASES(ROWS, WH_Q4X); break;             \
    default: QX_M_CASES(ROWS, WH_Q41X); break;                \
    }
#endif

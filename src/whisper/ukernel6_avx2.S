/* ukernel6_avx2.S — the encoder GEMM's AVX2 micro-kernel, by hand.
 *
 *   void wh_uk<R>x16_avx2(int kc, const float *A, long lda_bytes, const float *Bp,
 *                         float *C, long ldc_bytes, int accumulate);      R = 1 .. 6
 *
 * C[R][16] (+)= A[R][kc] · Bp[kc][16]: R rows of A (lda_bytes apart) against one packed
 * panel ([kc][16] floats, 32-byte aligned). Per lane one FMA chain over k in order from 0,
 * then C + sum when accumulating, as the scalar reference (test_kernels checks every R bit
 * for bit against an fmaf chain at every k remainder, with and without accumulation). Called
 * through wh_ukernel_avx2 after the runtime check found AVX2 and FMA. R = 6 is the sweep's
 * tile; the others are a row block's last rows (256 = 42·6 + 4, the 3 s clip's context),
 * each without the missing rows' FMAs (a C kernel had computed all six and stored R).
 *
 * Why by hand: compiled from C (two k a trip), GCC 12 walked six row pointers, each bumped
 * every trip, and moved a broadcast between registers: 14 integer and move uops per 24 FMAs,
 * some of them issued on the two FMA ports. Here the six rows are two bases (rows 0 and 3)
 * plus an index of 0, one or two strides, and four k a trip: four integer uops per 48 FMAs.
 * Measured on a 2-core Intel Xeon (Emerald Rapids) slice pinned to its AVX2 level, base
 * f16's 3 s clip (audio_ctx 256, 2 threads, scratch harness, the two libraries alternating,
 * 40 windows each, three rounds): fastest 85.4-85.9 -> 82.7-83.0 ms, median 86.5-89.1 ->
 * 84.0-84.6 ms; 1 thread, fastest 164.1-164.3 -> 159.1-160.0 ms. The short tiles by hand
 * too (they had gone through the C kernel): median 83.1-84.9 -> 81.6-83.9 ms, five rounds.
 *
 * Registers: ymm0-11 accumulators (row r: ymm(2r) columns 0-7, ymm(2r+1) columns 8-15),
 * ymm12/13 B's two vectors of this k, ymm14/15 the broadcasts (alternating); rsi/r10 the
 * row-group bases (rows 0 and 3), rdx = lda, r11 = 2·lda, rcx = B, eax the loop count. Only
 * caller-saved registers: nothing to push. */
#if defined(__x86_64__) && defined(__ELF__)

/* one row of one k: broadcast A[row][k + d] (base + idx), two FMAs */
.macro ROW d, base, idx, t, c0, c1
.ifb \idx
        vbroadcastss (4*\d)(\base), %ymm\t
.else
        vbroadcastss (4*\d)(\base,\idx), %ymm\t
.endif
        vfmadd231ps %ymm12, %ymm\t, %ymm\c0
        vfmadd231ps %ymm13, %ymm\t, %ymm\c1
.endm

/* one k (at k + d from the pointers) for the first `rows` rows: B's two vectors, then the rows */
.macro KSTEP d, rows
        vmovaps (64*\d)(%rcx), %ymm12
        vmovaps (64*\d+32)(%rcx), %ymm13
        ROW \d, %rsi, , 14, 0, 1
.if \rows > 1
        ROW \d, %rsi, %rdx, 15, 2, 3
.endif
.if \rows > 2
        ROW \d, %rsi, %r11, 14, 4, 5
.endif
.if \rows > 3
        ROW \d, %r10, , 15, 6, 7
.endif
.if \rows > 4
        ROW \d, %r10, %rdx, 14, 8, 9
.endif
.if \rows > 5
        ROW \d, %r10, %r11, 15, 10, 11
.endif
.endm

/* advance every pointer by n k */
.macro ADVANCE n
        add $(4*\n), %rsi
        add $(4*\n), %r10
        add $(64*\n), %rcx
.endm

/* store (or add into) C's row r: C at r8, then r8 += ldc */
.macro STROW c0, c1, add
.if \add
        vaddps (%r8), %ymm\c0, %ymm\c0
        vaddps 32(%r8), %ymm\c1, %ymm\c1
.endif
        vmovups %ymm\c0, (%r8)
        vmovups %ymm\c1, 32(%r8)
        add %r9, %r8
.endm

.macro STORE add, rows
        STROW 0, 1, \add
.if \rows > 1
        STROW 2, 3, \add
.endif
.if \rows > 2
        STROW 4, 5, \add
.endif
.if \rows > 3
        STROW 6, 7, \add
.endif
.if \rows > 4
        STROW 8, 9, \add
.endif
.if \rows > 5
        STROW 10, 11, \add
.endif
.endm

/* the function for a tile of `rows` rows (1..6): the same code with the missing rows left
 * out, so a block's last rows (256 = 42·6 + 4: the 3 s clip's context) run at the full
 * tile's pace per row instead of through the C kernel, which computes all six */
.macro UKERNEL name, rows
        .globl \name
        .hidden \name
        .type \name, @function
        .p2align 5
\name:
        .cfi_startproc
        lea (%rdx,%rdx,2), %rax         /* 3·lda: the second row group */
        lea (%rsi,%rax), %r10
        lea (%rdx,%rdx), %r11
        .irp r, 0,1,2,3,4,5,6,7,8,9,10,11
        vxorps %ymm\r, %ymm\r, %ymm\r
        .endr
        mov %edi, %eax
        shr $2, %eax                    /* k four at a time, then the rest one at a time */
        jz 2f
        .p2align 5
1:
        KSTEP 0, \rows
        KSTEP 1, \rows
        KSTEP 2, \rows
        KSTEP 3, \rows
        ADVANCE 4
        dec %eax
        jnz 1b
2:
        and $3, %edi
        jz 4f
3:
        KSTEP 0, \rows
        ADVANCE 1
        dec %edi
        jnz 3b
4:
        mov 8(%rsp), %eax               /* accumulate: the 7th argument */
        test %eax, %eax
        jz 5f
        STORE 1, \rows
        jmp 6f
5:
        STORE 0, \rows
6:
        vzeroupper
        ret
        .cfi_endproc
        .size \name, .-\name
.endm

        .text
        UKERNEL wh_uk6x16_avx2, 6
        UKERNEL wh_uk5x16_avx2, 5
        UKERNEL wh_uk4x16_avx2, 4
        UKERNEL wh_uk3x16_avx2, 3
        UKERNEL wh_uk2x16_avx2, 2
        UKERNEL wh_uk1x16_avx2, 1

#endif
        .section .note.GNU-stack, "", @progbits

/* ukernel12_avx512.S — the encoder GEMM's full 12-row AVX-512 micro-kernel, by hand.
 *
 *   void wh_uk12x32_avx512(int kc, const float *A, long lda_bytes, const float *Bp,
 *                          float *C, long ldc_bytes, int accumulate, const void *pf);
 *
 * C[12][32] (+)= A[12][kc] · [Bp | Bp + 16·kc]: twelve rows of A (lda_bytes apart) against
 * two adjacent packed panels ([kc][16] floats each, 64-byte aligned). The same arithmetic as
 * kernels_avx512.c's UK512 at R = 12 — per lane one FMA chain over k in order from 0, then
 * C + sum when accumulating — so the same bits (test_kernels checks the micro-kernel against
 * an fmaf chain bit for bit); only called by wh_ukernel2_avx512 for a full tile after the
 * runtime check found AVX-512.
 *
 * Why by hand: compiled from C, GCC 12 needed fifteen general registers for the twelve row
 * pointers, the k index, B and its end, so it kept two row pointers in vector registers and
 * moved them back (vmovq, port 0 — an FMA port) twice per k, and indexed B with a shift per
 * k. Here the twelve rows are four base pointers (rows 0, 3, 6, 9) plus an index of 0, one
 * or two strides, so the loop holds nothing but loads and FMAs. Measured (2-core Intel Xeon
 * slice, 1 thread, panel pair in L1, scratch harness alternating with the C kernel): kc 256,
 * A rows in L2: 80-82 -> 85-86 % of the FMA peak; kc 64 (the attention's QK): 70 -> 82-84 %.
 *
 * pf: one 64-byte line is prefetched into L2 (prefetcht1) per four k, from pf on (kc/4
 * lines): the sweep points the calls of a row block at consecutive shares of the panel pair
 * it will use next, so that pair streams in from L3 while this one is in use. The pairs come
 * from L3 (packed once for all threads), and without it each row block's first call on a
 * pair stalled on them: the sweep's own prefetch (a share of lines before each call) stalled
 * on fill buffers instead, and is off for pairs on Intel (kernels.c). Measured (Xeon slice, 1
 * thread, 256 pairs of kc 256 from L3 — 8 MB, as the encoder's packed weights — 96 rows a
 * pair, scratch harness, alternating with the kernel without it): 201-212 -> 212-237 GFLOP/s;
 * 48 rows 197 -> 224-227; kc 64 (the attention's scores) 202 -> 213. A pf already in L1 (a
 * call with nothing to fetch) costs one load-port operation per 96 FMAs.
 *
 * Registers: zmm0-23 accumulators (row r: zmm(2r) for the first panel, zmm(2r+1) for the
 * second), zmm24/25 B's two vectors of this k, zmm26-31 the broadcasts (rotating);
 * rsi/r10/r11/r12 the row-group bases, rax = 0, rdx = lda, r13 = 2·lda, rcx = B, r14 = the
 * second panel's offset (64·kc bytes), r15 the loop count, rbx the prefetch pointer. */
#if defined(__x86_64__) && defined(__ELF__)

/* one row of one k: broadcast A[row][k + d] (base + idx), two FMAs */
.macro ROW d, base, idx, t, c0, c1
        vbroadcastss (4*\d)(\base,\idx), %zmm\t
        vfmadd231ps %zmm24, %zmm\t, %zmm\c0
        vfmadd231ps %zmm25, %zmm\t, %zmm\c1
.endm

/* three rows of one k (base plus 0, one or two strides): broadcasts in t0..t2, the rows'
 * accumulators c0/c1, c2/c3, c4/c5 (first panel / second) */
.macro GROUP d, base, t0, t1, t2, c0, c1, c2, c3, c4, c5
        ROW \d, \base, %rax, \t0, \c0, \c1
        ROW \d, \base, %rdx, \t1, \c2, \c3
        ROW \d, \base, %r13, \t2, \c4, \c5
.endm

/* one k (at k + d from the pointers): B's two vectors, then the four row groups */
.macro KSTEP d
        vmovaps (64*\d)(%rcx), %zmm24
        vmovaps (64*\d)(%rcx,%r14), %zmm25
        GROUP \d, %rsi, 26, 27, 28, 0, 1, 2, 3, 4, 5
        GROUP \d, %r10, 29, 30, 31, 6, 7, 8, 9, 10, 11
        GROUP \d, %r11, 26, 27, 28, 12, 13, 14, 15, 16, 17
        GROUP \d, %r12, 29, 30, 31, 18, 19, 20, 21, 22, 23
.endm

/* advance every pointer by n k */
.macro ADVANCE n
        add $(4*\n), %rsi
        add $(4*\n), %r10
        add $(4*\n), %r11
        add $(4*\n), %r12
        add $(64*\n), %rcx
.endm

/* store (or add into) C's row r: C at r8, then r8 += ldc */
.macro STROW c0, c1, add
.if \add
        vaddps (%r8), %zmm\c0, %zmm\c0
        vaddps 64(%r8), %zmm\c1, %zmm\c1
.endif
        vmovups %zmm\c0, (%r8)
        vmovups %zmm\c1, 64(%r8)
        add %r9, %r8
.endm

.macro STORE add
        STROW 0, 1, \add
        STROW 2, 3, \add
        STROW 4, 5, \add
        STROW 6, 7, \add
        STROW 8, 9, \add
        STROW 10, 11, \add
        STROW 12, 13, \add
        STROW 14, 15, \add
        STROW 16, 17, \add
        STROW 18, 19, \add
        STROW 20, 21, \add
        STROW 22, 23, \add
.endm

        .text
        .globl wh_uk12x32_avx512
        .hidden wh_uk12x32_avx512
        .type wh_uk12x32_avx512, @function
        .p2align 5
wh_uk12x32_avx512:
        .cfi_startproc
        push %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r12, 0
        push %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r13, 0
        push %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r14, 0
        push %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r15, 0
        push %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        mov 56(%rsp), %rbx              /* pf: the 8th argument, above the 5 pushes */
        lea (%rdx,%rdx,2), %rax         /* 3·lda: the row groups' distance */
        lea (%rsi,%rax), %r10
        lea (%r10,%rax), %r11
        lea (%r11,%rax), %r12
        lea (%rdx,%rdx), %r13
        xor %eax, %eax
        movslq %edi, %r14
        shl $6, %r14                    /* the second panel: 16 floats per k further */
        .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23
        vpxord %zmm\r, %zmm\r, %zmm\r
        .endr
        mov %edi, %r15d
        shr $2, %r15d                   /* k four at a time, then the rest one at a time */
        jz 2f
1:
        KSTEP 0
        KSTEP 1
        KSTEP 2
        KSTEP 3
        prefetcht1 (%rbx)
        add $64, %rbx
        ADVANCE 4
        dec %r15d
        jnz 1b
2:
        and $3, %edi
        jz 4f
3:
        KSTEP 0
        ADVANCE 1
        dec %edi
        jnz 3b
4:
        mov 48(%rsp), %eax              /* accumulate: the 7th argument */
        test %eax, %eax
        jz 5f
        STORE 1
        jmp 6f
5:
        STORE 0
6:
        vzeroupper
        pop %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        pop %r15
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r15
        pop %r14
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r14
        pop %r13
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r13
        pop %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r12
        ret
        .cfi_endproc
        .size wh_uk12x32_avx512, .-wh_uk12x32_avx512

#endif
        .section .note.GNU-stack, "", @progbits

#!/bin/sh
# The decoder's GEMVs and cross-attention kernels, and the encoder GEMM's sweep over shared
# packed panels, have their software prefetch compiled in. It is a builtin with no
# effect the compiler can see: a helper that GCC declines to inline (the int8 kernels are one
# function of 35 instantiations, past --param large-function-growth) is then judged free of
# side effects and its calls are deleted, silently — the int8 GEMVs shipped without their
# prefetch that way for one stop (base q8_0 beam-5 step 18-22 % slower). Checks every object
# the suite built (release and sanitizer), by disassembly; skips where objdump is missing.
cd "$(dirname "$0")/../.." || exit 1
n=0
if ! command -v objdump >/dev/null 2>&1; then
    echo "ok - objdump not installed # SKIP"
    exit 0
fi
# The AVX-512 float GEMV is one out-of-line function per (type, M) (gemv_tmpl.h, GEMV_OUTLINE):
# batch 1's f16 loop, the beam's, and a block type's are checked there.
# The int8 cross-attention (att8_tmpl.h) is one out-of-line pass per row count: one row's and
# five rows' are checked in each of its three objects.
# prefetch instructions between the function's label and the next one (a GCC clone's
# suffix, as in name.constprop.0, counts as the function)
count() { # object, function
    objdump -d --no-show-raw-insn "$1" 2>/dev/null |
        awk -v f="$2" '/^[0-9a-f]+ </ {l = substr($2, 2, length($2) - 3); on = (l == f || index(l, f ".") == 1); next}
                       on && /prefetch/ {c++} END {print c + 0}'
}
for v in release san; do
    d=build/$v/src/whisper
    [ -f "$d/kernels_avx512.o" ] || continue
    for k in kernels_avx512:wh_gemv_qx_avx512 kernels_vnni256_avx512:wh_gemv_qx_vnni256 \
             kernels_avx2:wh_gemv_qx_avx2 kernels_pairs_avx2:wh_gemv_qx_avx2p kernels_avxvnni_avx2:wh_gemv_qx_avxvnni \
             kernels_avx512:gemv_WH_F16_1 kernels_avx512:gemv_WH_F16_5 kernels_avx512:gemv_WH_Q8_0_5 \
             kernels_avx2:wh_gemv_avx2 \
             kernels_avx512:a8_pass_1 kernels_avx512:a8_pass_5 kernels_vnni256_avx512:a8_pass_1 \
             kernels_vnni256_avx512:a8_pass_5 kernels_avxvnni_avx2:a8_pass_1 kernels_avxvnni_avx2:a8_pass_5 \
             kernels_avx512:wh_attend_rows_avx512 \
             kernels_avx2:wh_attend_rows_avx2 kernels_avx2:wh_attend_rows_i8_avx2 kernels:sweep; do
        o=$d/${k%%:*}.o f=${k#*:}
        c=$(count "$o" "$f")
        n=$((n + 1))
        if [ "$c" -gt 0 ]; then echo "ok - $v $f: $c prefetch instructions"
        else echo "not ok - $v $f: no prefetch instruction in $o"; fi
    done
done
[ $n -gt 0 ] || echo "not ok - no kernel objects under build/release or build/san (build first)"

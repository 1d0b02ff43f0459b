/* exp_tmpl.h — e^x for x already clamped to [-87.34, 88.38], relative error ~1e-7 (Cephes
 * expf polynomial after the reduction x = n·ln2 + r, |r| <= ln2/2, ln2 in two parts), written
 * once for every vector width. The includer defines (this file #undefs them at its end):
 *
 *   E_VEC  E_SET1(x)  E_MUL(a,b)  E_ADD(a,b)  E_FMA(a,b,c)  E_FNMA(a,b,c)  E_ROUND(v)
 *   E_POW2(fx)   2^fx for integral fx in range, as floats (exponent bits)
 *   E_NAME       the function's name
 *
 * Range handling (inputs below the range give 0) is the caller's: AVX2 masks with a vector
 * compare, AVX-512 with a mask register. */
static inline E_VEC E_NAME(E_VEC x)
{
    const E_VEC fx = E_ROUND(E_MUL(x, E_SET1(1.44269504088896341f)));
    x = E_FNMA(fx, E_SET1(0.693359375f), x);
    x = E_FNMA(fx, E_SET1(-2.12194440e-4f), x);
    E_VEC y = E_SET1(1.9875691500E-4f);
    y = E_FMA(y, x, E_SET1(1.3981999507E-3f));
    y = E_FMA(y, x, E_SET1(8.3334519073E-3f));
    y = E_FMA(y, x, E_SET1(4.1665795894E-2f));
    y = E_FMA(y, x, E_SET1(1.6666665459E-1f));
    y = E_FMA(y, x, E_SET1(5.0000001201E-1f));
    y = E_FMA(y, E_MUL(x, x), E_ADD(x, E_SET1(1.0f)));
    return E_MUL(y, E_POW2(fx));
}
#undef E_VEC
#undef E_SET1
#undef E_MUL
#undef E_ADD
#undef E_FMA
#undef E_FNMA
#undef E_ROUND
#undef E_POW2
#undef E_NAME

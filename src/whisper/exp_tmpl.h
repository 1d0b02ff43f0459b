/* exp_tmpl.h — e^x and the exact-erf GELU, written once for every vector width. The includer
 * defines (this file #undefs them at its end):
 *
 *   E_VEC  E_SET1(x)  E_MUL(a,b)  E_ADD(a,b)  E_RECIP(v)  E_FMA(a,b,c)  E_FNMA(a,b,c)
 *   E_MIN(a,b)  E_MAX(a,b)  E_ROUND(v)  E_ABS(v)  E_NEG(v)  E_COPYSIGN(a,z) (|a| with z's sign)
 *   E_LDEXP_ABOVE(x,lo,y,fx)  y·2^fx (fx integral, in range) where x >= lo, else 0 (AVX2:
 *                          2^fx built from exponent bits and a multiply; AVX-512: one masked
 *                          vscalefps in place of four instructions)
 *   E_EXP, E_GELU          the two functions' names
 *
 * exp: relative error ~1e-7 for x in [-87.3, 88.7] (Cephes expf polynomial after the
 * reduction x = n·ln2 + r, |r| <= ln2/2, ln2 in two parts); inputs below the range give 0.
 * GELU(x) = x/2 · (1 + erf(x/√2)) with erf from Abramowitz & Stegun 7.1.26 (|error| <=
 * 1.5e-7, f32 rounding level: openai model.py's exact-erf GELU, not whisper.cpp's tanh form). */
static inline E_VEC E_EXP(E_VEC x0)
{
    const E_VEC lo = E_SET1(-87.3365478515625f);
    E_VEC x = E_MIN(E_MAX(x0, lo), E_SET1(88.3762626647949f));
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
    return E_LDEXP_ABOVE(x0, lo, y, fx);
}

static inline E_VEC E_GELU(E_VEC v)
{
    const E_VEC one = E_SET1(1.0f);
    const E_VEC z = E_MUL(v, E_SET1(0.70710678118654752f)), az = E_ABS(z);
    const E_VEC t = E_RECIP(E_FMA(E_SET1(0.3275911f), az, one));
    E_VEC poly = E_FMA(E_SET1(1.061405429f), t, E_SET1(-1.453152027f));
    poly = E_FMA(poly, t, E_SET1(1.421413741f));
    poly = E_FMA(poly, t, E_SET1(-0.284496736f));
    poly = E_FMA(poly, t, E_SET1(0.254829592f));
    poly = E_MUL(poly, t);
    const E_VEC erfa = E_FNMA(poly, E_EXP(E_MUL(E_NEG(az), az)), one);   /* erf(|z|) */
    return E_MUL(E_MUL(E_SET1(0.5f), v), E_ADD(one, E_COPYSIGN(erfa, z)));
}

#undef E_VEC
#undef E_SET1
#undef E_MUL
#undef E_ADD
#undef E_RECIP
#undef E_FMA
#undef E_FNMA
#undef E_MIN
#undef E_MAX
#undef E_ROUND
#undef E_ABS
#undef E_NEG
#undef E_COPYSIGN
#undef E_LDEXP_ABOVE
#undef E_EXP
#undef E_GELU

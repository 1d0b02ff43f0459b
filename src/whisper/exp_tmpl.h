/* exp_tmpl.h — e^x and the exact-erf GELU, written once for every vector width. The includer
 * defines (this file #undefs them at its end):
 *
 *   E_VEC  E_SET1(x)  E_MUL(a,b)  E_ADD(a,b)  E_SUB(a,b)  E_RECIP(v)  E_FMA(a,b,c)  E_FNMA(a,b,c)
 *   E_MIN(a,b)  E_MAX(a,b)  E_ROUND(v)  E_ABS(v)
 *   E_LDEXP_ABOVE(x,lo,y,fx)  y·2^fx (fx integral, in range) where x >= lo, else 0 (AVX2:
 *                          2^fx built from exponent bits and a multiply; AVX-512: one masked
 *                          vscalefps in place of four instructions)
 *   E_EXP, E_GELU, E_EXPM  the functions' names
 *
 * exp: relative error ~1e-7 for x in [-87.3, 88.7] (Cephes expf polynomial after the
 * reduction x = n·ln2 + r, |r| <= ln2/2, ln2 in two parts); inputs below the range give 0.
 * GELU(x) = x/2 · (1 + erf(x/√2)) with erf from Abramowitz & Stegun 7.1.26 (|error| <=
 * 1.5e-7, f32 rounding level: openai model.py's exact-erf GELU, not whisper.cpp's tanh form). */
#define E_CAT_(a, b) a##b
#define E_CAT(a, b) E_CAT_(a, b)
#define E_EXP_LO -87.3365478515625f   /* e^x below it is 0 */

/* the exp after its clamps: x in range, x0 the input (E_LDEXP_ABOVE's test) */
static inline E_VEC E_CAT(E_EXP, _core)(E_VEC x0, E_VEC x)
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
    return E_LDEXP_ABOVE(x0, E_SET1(E_EXP_LO), y, fx);
}

static inline E_VEC E_EXP(E_VEC x0)
{
    return E_CAT(E_EXP, _core)(x0, E_MIN(E_MAX(x0, E_SET1(E_EXP_LO)), E_SET1(88.3762626647949f)));
}

/* e^(x − m) for x <= m — a softmax's exponentials — given nml = −m·log2(e) (rounded once
 * per row): t = x·log2(e) + nml in one rounding (an FMA), t = n + f with n = round(t) and
 * f = t − n exact (|f| <= 1/2), 2^f by a degree-5 polynomial (a minimax fit on [−1/2, 1/2]:
 * 7.6e-8 relative, 2.4e-7 evaluated in f32), then 2^n · 2^f; 0 for t < −125, where the
 * result would be under 2^−125 (as E_EXP gives 0 under e^−87.3 = 2^−126: no subnormals into
 * the sums and products after it). Five operations fewer than E_EXP's reduction by ln 2 in
 * two parts and its degree-7 polynomial; the price is t's one rounding, a relative error of
 * |t|·2^−24 in the result (1.2e-6 at e^−20, where the probability is 2e-9 of the row's
 * largest; at the largest ones t is near 0). m's own rounding into nml scales the whole row
 * by one factor, which the softmax's normalisation cancels. A NaN x gives NaN (the mask
 * tests "not below"). */
static inline E_VEC E_CAT(E_EXPM, _2)(E_VEC t)   /* 2^t, as E_EXPM after its FMA */
{
    const E_VEC n = E_ROUND(t);
    const E_VEC f = E_SUB(t, n);
    E_VEC y = E_SET1(1.3276379323e-3f);
    y = E_FMA(y, f, E_SET1(9.6755102277e-3f));
    y = E_FMA(y, f, E_SET1(5.5507130921e-2f));
    y = E_FMA(y, f, E_SET1(2.4022120237e-1f));
    y = E_FMA(y, f, E_SET1(6.9314694405e-1f));
    y = E_FMA(y, f, E_SET1(1.0000001192f));
    return E_LDEXP_ABOVE(t, E_SET1(-125.0f), y, n);
}

static inline E_VEC E_EXPM(E_VEC x, E_VEC nml)
{
    return E_CAT(E_EXPM, _2)(E_FMA(x, E_SET1(1.44269504088896341f), nml));
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
    /* e^(−z²) = 2^(v·(−log2(e)/2)·v), two multiplies (two roundings of t: an absolute error
     * under 2e-9 in erf here, against A&S's 1.5e-7), then E_EXPM's 2^t */
    const E_VEC ez = E_CAT(E_EXPM, _2)(E_MUL(E_MUL(v, E_SET1(-0.72134752044448170f)), v));
    const E_VEC erfa = E_FNMA(poly, ez, one);   /* erf(|z|) */
    /* h·(1 + erf(z)) = h + |h|·erf(|z|), h = v/2: one FMA (the sign of z is v's) */
    const E_VEC h = E_MUL(v, E_SET1(0.5f));
    return E_FMA(E_ABS(h), erfa, h);
}

#undef E_VEC
#undef E_SET1
#undef E_MUL
#undef E_ADD
#undef E_SUB
#undef E_EXPM
#undef E_RECIP
#undef E_FMA
#undef E_FNMA
#undef E_MIN
#undef E_MAX
#undef E_ROUND
#undef E_ABS
#undef E_LDEXP_ABOVE
#undef E_EXP
#undef E_EXP_LO
#undef E_CAT
#undef E_CAT_
#undef E_GELU

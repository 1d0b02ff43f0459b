/* kernels.c — portable kernels, packing and the GEMM driver; see kernels.h.
 *
 * GEMM structure (after the BLIS/GotoBLAS decomposition): a thread owns a column range
 * [n0, n1) of the output. For each chunk of WH_GEMM_NC columns and each WH_GEMM_KC slice
 * of K it dequantizes the weights once into a packed panel Bp[kc][16] per 16 columns
 * (L2-resident), then sweeps all rows of A six at a time through a 6×16 register-blocked
 * micro-kernel that reads A from L1 (AVX-512: twelve at a time, 12×32 over a panel pair).
 * Weights are read from memory once per call, whatever M is. For M < 8 (decoder steps)
 * packing would double the memory traffic, so a GEMV path dequantizes one weight row into
 * L1 and takes M dot products against it. */
#include "kernels.h"
#include "model.h"
#include "fp16.h"

#include <limits.h>
#include <math.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static wh_isa g_isa = WH_ISA_SCALAR;
static int g_have_avx2, g_have_avx512, g_have_vnni, g_have_avxvnni, g_have_gfni;
static int g_have_amx;        /* AMX-TILE + AMX-BF16 + AVX512-BF16, the OS's tile state granted */
static int g_amx_allowed = 1; /* wh_kernels_allow_amx, SPEECH_SESSION_AMX=0 */
/* wh_kernels_vnni256: vpdpbusd at a pinned AVX2 level (the CPU's AVX-VNNI, else its EVEX form) */
static int g_vnni256;
static int g_avx2_pairs = -1;   /* wh_kernels_avx2_pairs: -1 the CPU's default */
/* wh_kernels_force pinned a level below the best: its AVX2 level is then an AVX2-only CPU's
 * (Zen 2/3), vpmaddubsw for the int8 products even on a CPU that has AVX-VNNI, unless
 * wh_kernels_vnni256 asks for vpdpbusd. Unpinned, an AVX-VNNI CPU without AVX-512 (Alder
 * Lake) runs its AVX-VNNI at its natural AVX2 level. */
static int g_pinned;
static int g_int8 = 1;   /* quantized weights may be repacked for int8 (wh_kernels_int8) */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* The batch-1 GEMV's software prefetch (kernels.h), in rows ahead. On an Intel Xeon slice
 * (2-core KVM, 2 threads, base f16 decoder step at batch 1, alternating binaries) the
 * hardware prefetcher alone streamed 5.3-5.9 ms, 2 rows ahead 4.0-4.7, 4 rows 3.6-3.7, 8 rows
 * 3.2-3.4, 12-16 rows 3.3-3.8 (4-16 KB ahead instead of rows: 3.3-3.9), into L1 instead of L2
 * slower at every distance; on a Zen 4 the hardware's alone had streamed f16 at 28-29 GB/s and
 * 4 rows ahead at 21-23 (gemv_tmpl.h), so other vendors keep 0 (WH_GEMV_PF_INTEL, kernels.h). */
int wh_gemv_pf_rows;
int wh_qx_gfni;
/* the CPU's vendor is Intel (the encoder sweep's panel prefetch, below) */
static int g_intel;

#if defined(__x86_64__) && defined(__GNUC__)
/* An Intel core of the Sapphire Rapids class (Golden Cove and its server successors), by
 * leaf 1's display family and model: 143 Sapphire Rapids, 207 Emerald Rapids, 173/174 Granite
 * Rapids. The AMX bits say the same on bare metal; a guest may see the core without them. */
static int sprx_core(void)
{
    unsigned a, b, c, d;
    if (!g_intel || !__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned fam = (a >> 8) & 15, model = ((a >> 4) & 15) | (((a >> 16) & 15) << 4);
    return fam == 6 && (model == 143 || model == 207 || model == 173 || model == 174);
}
#endif

static void detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* CPUID: leaf 1 ECX bit 12 FMA, 27 OSXSAVE, 28 AVX, 29 F16C; leaf 7 EBX bit 5 AVX2;
     * XGETBV: the OS saves XMM and YMM state (bits 1, 2). */
    unsigned a, b, c, d;
    /* leaf 0: the vendor string in EBX, EDX, ECX ("Genu" "ineI" "ntel") */
    if (__get_cpuid(0, &a, &b, &c, &d) && b == 0x756e6547u && d == 0x49656e69u && c == 0x6c65746eu) {
        g_intel = 1;
        wh_gemv_pf_rows = WH_GEMV_PF_INTEL;
    }
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        int fma = (c >> 12) & 1, osx = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
        /* leaf 7 EBX bits 16 AVX-512F, 30 BW, 31 VL; XGETBV bits 5..7: opmask and ZMM state */
        int avx2 = 0, ymm = 0, avx512 = 0, zmm = 0;
        if (osx) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            ymm = (lo & 6) == 6;
            zmm = (lo & 0xe6) == 0xe6;
        }
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            avx2 = (b >> 5) & 1;
            avx512 = ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
            g_have_vnni = (c >> 11) & 1;   /* leaf 7 ECX bit 11: AVX512_VNNI */
            g_have_gfni = (c >> 8) & 1;    /* bit 8: GFNI */
        }
        /* leaf 7 EDX bits 22 AMX-BF16, 24 AMX-TILE; subleaf 1 EAX bit 5 AVX512-BF16 */
        int amx = __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((d >> 22) & 1) && ((d >> 24) & 1);
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
            g_have_avxvnni = (a >> 4) & 1;   /* subleaf 1 EAX bit 4 */
            amx = amx && ((a >> 5) & 1);
        } else {
            amx = 0;
        }
        g_have_avx2 = fma && avx && f16c && avx2 && ymm;
        g_have_avx512 = g_have_avx2 && avx512 && zmm;
        g_have_vnni = g_have_vnni && g_have_avx512;
        /* by default only where it was measured: the Sapphire Rapids class of Xeon cores,
         * whose vpdpbusd issues on both 512-bit ports (2 a cycle here), so trading the fifth
         * bits' test and masked add for vgf2p8affineqb on one port paid. Known by AMX, or by
         * the model where a hypervisor hides AMX from its guests (sprx_core). Measured on such
         * a guest (Emerald Rapids, model 207, AMX not passed through; 1 thread, q5_0 rows of 512,
         * gemm_part alternating both forms, medians of 400): 2048 rows in L2 at one activation
         * row 18.4 -> 13.6 us, five rows 52.1 -> 47.3; the 51865-row output projection from L3
         * 915 -> 847 us and 965 -> 865. Other GFNI CPUs (Ice Lake, Zen 4) have not been timed,
         * and whether it pays depends on their ports: the older form stays there
         * (wh_kernels_allow_gfni(1) turns it on) */
        g_have_gfni = g_have_gfni && g_have_vnni;
        wh_qx_gfni = g_have_gfni && (amx || sprx_core());
        g_have_avxvnni = g_have_avxvnni && g_have_avx2;
        /* the tile state: XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA) enabled by the OS, and
         * Linux's per-process permission for XTILEDATA (feature 18; ARCH_REQ_XCOMP_PERM, 0x1023),
         * without which the first tile instruction is a SIGILL */
        if (amx && g_have_avx512 && osx) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            g_have_amx = (lo & (3u << 17)) == (3u << 17) && syscall(SYS_arch_prctl, 0x1023, 18) == 0;
        }
    }
#endif
    g_isa = g_have_avx512 ? WH_ISA_AVX512 : g_have_avx2 ? WH_ISA_AVX2 : WH_ISA_SCALAR;
    /* SPEECH_SESSION_ISA=avx2|scalar: run an older CPU's path (what bin/bench --isa does), for
     * checking that path end to end in the real programs; a level above the CPU's, or an
     * unknown word, changes nothing */
    const char *isae = getenv("SPEECH_SESSION_ISA");
    if (isae) {
        const int want = !strcasecmp(isae, "scalar") ? WH_ISA_SCALAR : !strcasecmp(isae, "avx2") ? WH_ISA_AVX2 : -1;
        if (want >= 0 && want < (int)g_isa) {
            g_isa = (wh_isa)want;
            g_pinned = 1;
        }
    }
    const char *amxe = getenv("SPEECH_SESSION_AMX");
    if (amxe && !strcmp(amxe, "0")) g_amx_allowed = 0;
    const char *exact = getenv("SPEECH_SESSION_EXACT");
    if (exact && *exact && strcmp(exact, "0")) g_int8 = 0;
}

void wh_kernels_init(void) { pthread_once(&g_once, detect); }
wh_isa wh_kernels_isa(void) { wh_kernels_init(); return g_isa; }
const char *wh_isa_name(wh_isa isa)
{
    return isa == WH_ISA_AVX512 ? "avx512+avx2+fma" : isa == WH_ISA_AVX2 ? "avx2+fma" : "scalar";
}

wh_isa wh_kernels_best(void)
{
    wh_kernels_init();
    return g_have_avx512 ? WH_ISA_AVX512 : g_have_avx2 ? WH_ISA_AVX2 : WH_ISA_SCALAR;
}

int wh_kernels_gemv_prefetch(void)
{
    wh_kernels_init();
    return wh_gemv_pf_rows;
}

void wh_kernels_set_gemv_prefetch(int rows)
{
    wh_kernels_init();
    wh_gemv_pf_rows = rows < 0 ? 0 : rows;
}

void wh_kernels_force(wh_isa isa)
{
    wh_isa best = wh_kernels_best();
    g_isa = isa > best ? best : isa;
    g_pinned = g_isa < best;
}

#define USE_AVX2 (g_isa >= WH_ISA_AVX2)
#define USE_AVX512 (g_isa >= WH_ISA_AVX512)

int wh_kernels_vnni(void)
{
    wh_kernels_init();
    return g_have_vnni && USE_AVX512;
}

int wh_kernels_gfni(void)
{
    wh_kernels_init();
    return wh_qx_gfni;
}

int wh_kernels_allow_gfni(int allow)
{
    wh_kernels_init();
    wh_qx_gfni = allow && g_have_gfni;
    return wh_qx_gfni;
}

int wh_kernels_amx(void)
{
    wh_kernels_init();
    return g_have_amx && g_amx_allowed && USE_AVX512;
}

void wh_kernels_allow_amx(int allow)
{
    wh_kernels_init();
    g_amx_allowed = allow != 0;
}

int wh_gemm_amx_ok(int K) { return K > 0 && K % 32 == 0 && wh_kernels_amx(); }

int wh_kernels_avxvnni(void)
{
    wh_kernels_init();
    return g_have_avxvnni && USE_AVX2;
}

void wh_kernels_vnni256(int on)
{
    wh_kernels_init();
    g_vnni256 = on && (g_have_vnni || g_have_avxvnni);
}

void wh_kernels_avx2_pairs(int on)
{
    wh_kernels_init();
    g_avx2_pairs = on < 0 ? -1 : on != 0;
}

int wh_kernels_int8(void)
{
    wh_kernels_init();
    return USE_AVX2 && g_int8;
}
void wh_kernels_allow_int8(int allow)
{
    wh_kernels_init();
    g_int8 = allow != 0;
}

/* ------------------------------------------------------------------ quantized × int8 */

int wh_qx_type(int type)
{
    switch (type) {
    case WH_Q8_0: return WH_Q8X;
    case WH_Q5_0: return WH_Q5X;
    case WH_Q5_1: return WH_Q51X;
    case WH_Q4_0: return WH_Q4X;
    case WH_Q4_1: return WH_Q41X;
    default: return 0;
    }
}

int wh_qx_is(int type) { return type >= WH_Q8X && type <= WH_Q41X; }

size_t wh_qx_bytes(int type, int N, int K)
{
    return (size_t)((N + 15) / 16) * (size_t)(K / 32) * wh_qx_block_bytes(type);
}

/* block b of group g (rows 16g .. 16g+15) */
static const uint8_t *qx_block(const wh_wmat *W, int g, int b)
{
    return (const uint8_t *)W->data + wh_qx_block_off(W->type, W->k / 32, g, b);
}

/* q8's 32 unsigned values u of row r into a WH_Q8X block: vector j holds elements 4j .. 4j+3 */
static void q8x_put_row(uint8_t *blk, int r, const uint8_t *u)
{
    for (int j = 0; j < 8; j++) memcpy(blk + wh_qx_off_q(WH_Q8X) + 64 * j + 4 * r, u + 4 * j, 4);
}

/* the unsigned value of (row r, element kk) of a block: byte i = r·4 + kk%4 of vector j = kk/4 */
static int qx_u(int type, const uint8_t *blk, int r, int kk)
{
    const int j = kk / 4, i = r * 4 + kk % 4, oq = wh_qx_off_q(type);
    if (type == WH_Q8X) return blk[oq + j * 64 + i];
    int u = j < 4 ? blk[oq + j * 64 + i] & 15 : blk[oq + (j - 4) * 64 + i] >> 4;
    if (wh_qx_has_h(type)) u |= ((blk[wh_qx_off_h(type) + i] >> j) & 1) << 4;
    return u;
}

/* one block of a file row: its 32 unsigned values (q + wh_qx_offset) */
static void qx_decode(int type, const uint8_t *blk, uint8_t u[32])
{
    if (type == WH_Q8_0) {
        for (int kk = 0; kk < 32; kk++) u[kk] = (uint8_t)(blk[2 + kk] ^ 0x80);
        return;
    }
    const int has_m = type == WH_Q5_1 || type == WH_Q4_1, has_h = type == WH_Q5_0 || type == WH_Q5_1;
    const uint8_t *qs = blk + 2 + 2 * has_m + 4 * has_h;
    uint32_t qh = 0;
    if (has_h) memcpy(&qh, blk + 2 + 2 * has_m, 4);
    for (int e = 0; e < 16; e++) {   /* nibble | fifth bit << 4 */
        u[e] = (uint8_t)((qs[e] & 15) | ((qh >> e) & 1) << 4);
        u[e + 16] = (uint8_t)((qs[e] >> 4) | ((qh >> (e + 16)) & 1) << 4);
    }
}

int wh_qx_pack(const wh_wmat *W, int N, wh_wmat *out, void **own)
{
    const int to = wh_qx_type(W->type);
    if (!to || W->k % 32 || N <= 0) return -1;
    const int nb = W->k / 32, oh = wh_qx_off_h(to), oq = wh_qx_off_q(to);
    const size_t in_bs = wh_type_size(W->type);
    const size_t bytes = wh_qx_bytes(to, N, W->k);
    uint8_t *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p) return -1;
    memset(p, 0, bytes);   /* rows past N: d and m 0, every value 0 */
    for (int g = 0; g < (N + 15) / 16; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *o = p + wh_qx_block_off(to, nb, g, b);
            for (int r = 0; r < 16 && g * 16 + r < N; r++) {
                const uint8_t *blk = (const uint8_t *)W->data + (size_t)(g * 16 + r) * W->row_bytes + (size_t)b * in_bs;
                uint8_t u[32];   /* the block's unsigned values, decoded once */
                memcpy(o + 2 * r, blk, 2);
                if (wh_qx_has_m(to)) memcpy(o + 32 + 2 * r, blk + 2, 2);
                qx_decode(W->type, blk, u);
                if (to == WH_Q8X) {
                    q8x_put_row(o, r, u);
                    continue;
                }
                for (int j = 0; j < 4; j++)   /* vector j's nibbles low, j + 4's high */
                    for (int t = 0; t < 4; t++)
                        o[oq + j * 64 + r * 4 + t] = (uint8_t)((u[4 * j + t] & 15) | (u[4 * j + 16 + t] & 15) << 4);
                if (wh_qx_has_h(to))   /* plane byte 4r + t, bit j: vector j's value of (r, t) */
                    for (int j = 0; j < 8; j++)
                        for (int t = 0; t < 4; t++) o[oh + r * 4 + t] |= (uint8_t)((u[4 * j + t] >> 4) << j);
            }
            if (to == WH_Q8X) {   /* q8_0's padding rows: value 0 is byte 0x80 */
                uint8_t zero[32];
                memset(zero, 0x80, sizeof zero);
                for (int r = N - g * 16 > 0 ? N - g * 16 : 0; r < 16; r++) q8x_put_row(o, r, zero);
            }
        }
    *own = p;
    *out = (wh_wmat){p, to, W->k, W->row_bytes};
    return 0;
}

/* Per 32-block: wh_i8_row's quantizer (ties to even, the SIMD one where it runs), the scale
 * stored as f16 as the file types store theirs; values + 128 as wh_qx_pack writes q8_0's. */
void wh_qx8_pack_f32(int N, int K, const float *X, size_t rs, size_t ks, int kvalid, void *out)
{
    if (rs == 1 && USE_AVX2) {
        wh_qx8_pack_t_avx2(N, K, X, ks, kvalid, out);
        return;
    }
    if (ks == 1 && kvalid >= K && USE_AVX2) {
        wh_qx8_pack_r_avx2(N, K, X, rs, out);
        return;
    }
    const int nb = K / 32;
    for (int g = 0; g < N / 16; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *o = (uint8_t *)out + wh_qx_block_off(WH_Q8X, nb, g, b);
            const int left = kvalid - 32 * b, nv = left < 0 ? 0 : left > 32 ? 32 : left;
            for (int r = 0; r < 16; r++) {
                const float *x = X + (size_t)(16 * g + r) * rs + (size_t)(32 * b) * ks;
                float tmp[32];
                int8_t q[32];
                uint8_t u[32];
                if (ks != 1 || nv < 32) {   /* a strided or partial block: gathered, zeros past kvalid */
                    for (int i = 0; i < 32; i++) tmp[i] = i < nv ? x[(size_t)i * ks] : 0.0f;
                    x = tmp;
                }
                const uint16_t h = wh_f32_to_f16(wh_i8_row(x, 32, q));
                memcpy(o + 2 * r, &h, 2);
                for (int i = 0; i < 32; i++) u[i] = (uint8_t)q[i] ^ 0x80;   /* q + 128 */
                q8x_put_row(o, r, u);
            }
        }
}

/* the file type a repacked type came from */
static int qx_file_type(int t)
{
    return t == WH_Q8X ? WH_Q8_0 : t == WH_Q5X ? WH_Q5_0 : t == WH_Q51X ? WH_Q5_1 : t == WH_Q4X ? WH_Q4_0 : WH_Q4_1;
}

/* Row r's blocks b0 .. b0+nb-1 put back in the file's layout at dst (nb blocks of the file
 * type): the M >= 8 GEMM then dequantizes them with the file type's own code, to the bit.
 * Element by element instead (a prompt pass packs every decoder weight), a 64-token pass on
 * base q8_0 had taken 121 ms against the exact path's 29. Vector j of a repacked block holds
 * elements 4j .. 4j+3 of each row: q8's in order, the nibble types' file nibble bytes 4j ..
 * 4j+3 (elements e low, e + 16 high), the fifth bits in the planes (model.h). */
static void qx_file_blocks(const wh_wmat *W, int r, int b0, int nb, uint8_t *dst)
{
    const int t = W->type, rr = r % 16, oq = wh_qx_off_q(t), oh = wh_qx_off_h(t);
    const size_t fbs = wh_type_size(qx_file_type(t));
    for (int b = 0; b < nb; b++, dst += fbs) {
        const uint8_t *blk = qx_block(W, r / 16, b0 + b);
        uint8_t *q = dst + 2;
        memcpy(dst, blk + 2 * rr, 2);   /* d */
        if (wh_qx_has_m(t)) {
            memcpy(q, blk + 32 + 2 * rr, 2);
            q += 2;
        }
        if (wh_qx_has_h(t)) {   /* element 4j + e's bit: bit j of plane byte 4·rr + e */
            uint32_t qh = 0;
            for (int j = 0; j < 8; j++)
                for (int e = 0; e < 4; e++) qh |= (uint32_t)((blk[oh + 4 * rr + e] >> j) & 1) << (4 * j + e);
            memcpy(q, &qh, 4);
            q += 4;
        }
        for (int j = 0; j < (t == WH_Q8X ? 8 : 4); j++)
            for (int e = 0; e < 4; e++) q[4 * j + e] = (uint8_t)(blk[oq + 64 * j + 4 * rr + e] ^ (t == WH_Q8X ? 0x80 : 0));
    }
}

static float amax_ref(const float *x, int n)
{
    float amax = 0.0f;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    return amax;
}

/* wh_i8_row's reference, and each 32-block of wh_qx_quant_ref: the same quantizer */
static float i8_row_ref(const float *x, int n, int8_t *q)
{
    const float d = amax_ref(x, n) / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i++) q[i] = (int8_t)lrintf(x[i] * id);   /* |x·id| <= 127: |x| <= amax */
    return d;
}

/* the pair-bounded scale's numerator: the largest |x[2i]| + |x[2i+1]| of the block */
/* the pair-bounded scale: the largest |x[2i]| + |x[2i+1]| over 127, formed as halves over 63.5
 * — the same float as the whole sums over 127 where nothing under- or overflows (scaling by 2 is
 * exact), and finite where a pair's sum would overflow (x ~ 2e38: d had been inf, every output
 * NaN; the max|x| quantizer gives finite results there) */
static float pair_scale_ref(const float *x)
{
    float hmax = 0.0f;
    for (int i = 0; i < 32; i += 2) hmax = fmaxf(hmax, 0.5f * fabsf(x[i]) + 0.5f * fabsf(x[i + 1]));
    return hmax / 63.5f;
}

void wh_qx_quant_ref(int M, int K, const float *A, int lda, int pairs, int8_t *xq, float *dx, int32_t *cs, float *sx)
{
    const int nb = K / 32;
    for (int m = 0; m < M; m++)
        for (int b = 0; b < nb; b++) {
            int8_t *q = xq + (size_t)m * K + (size_t)b * 32;
            const float *x = A + (size_t)m * lda + (size_t)b * 32;
            if (pairs) {   /* d = max pair / 127: |q[2i]| + |q[2i+1]| <= 127 + two halves' rounding */
                const float d = pair_scale_ref(x), id = d > 0.0f ? 1.0f / d : 0.0f;
                for (int i = 0; i < 32; i++) q[i] = (int8_t)lrintf(x[i] * id);
                dx[m * nb + b] = d;
            } else {
                dx[m * nb + b] = i8_row_ref(x, 32, q);
            }
            int sum = 0;
            for (int i = 0; i < 32; i++) sum += q[i];
            cs[m * nb + b] = -128 * sum;
            sx[m * nb + b] = dx[m * nb + b] * (float)sum;
        }
}

void wh_gemv_qx_ref(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                    const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate)
{
    const int nb = K / 32;
    for (int n = n0; n < n1; n++)
        for (int m = 0; m < M; m++) {
            float acc = 0.0f;
            for (int b = 0; b < nb; b++) {
                const uint8_t *blk = qx_block(W, n / 16, b);
                /* cs = −128·Σ xq takes q8's +128 back; the others' offset is a fraction of it */
                const int off = wh_qx_offset(W->type);
                int32_t sum = off ? cs[m * nb + b] / (128 / off) : 0;
                for (int kk = 0; kk < 32; kk++)
                    sum += (int32_t)xq[(size_t)m * K + (size_t)b * 32 + kk] * qx_u(W->type, blk, n % 16, kk);
                uint16_t h;
                memcpy(&h, blk + 2 * (n % 16), 2);
                const float scale = wh_f16_to_f32(h) * dx[m * nb + b];
                acc = fmaf((float)sum, scale, acc);
                if (wh_qx_has_m(W->type)) {   /* + m · Σ x, with Σ x = d_x · Σ xq (sx) */
                    memcpy(&h, blk + 32 + 2 * (n % 16), 2);
                    acc = fmaf(wh_f16_to_f32(h), sx[m * nb + b], acc);
                }
            }
            float *c = C + (size_t)m * ldc + n;
            const float v = accumulate ? *c + acc : acc;
            *c = bias ? v + bias[n] : v;
        }
}

/* the buffer of wh_qx_act_quant: xq [M·K], then dx, cs and sx [M·K/32] each */
size_t wh_qx_act_bytes(int M, int K) { return (((size_t)M * K + 3) & ~(size_t)3) + (size_t)M * (size_t)(K / 32) * 12; }

static void qx_act_parts(int M, int K, const void *act, int8_t **xq, float **dx, int32_t **cs, float **sx)
{
    *xq = (int8_t *)(uintptr_t)act;
    *dx = (float *)(void *)(*xq + (((size_t)M * K + 3) & ~(size_t)3));
    *cs = (int32_t *)(void *)(*dx + (size_t)M * (size_t)(K / 32));
    *sx = (float *)(void *)(*cs + (size_t)M * (size_t)(K / 32));
}

void wh_qx_act_quant(int M, int K, const float *A, int lda, int pairs, void *act)
{
    wh_qx_act_quant_part(M, K, A, lda, pairs, act, 0, M);
}

void wh_q8_0_row_ref(const float *x, int K, uint8_t *out)
{
    for (int b = 0; b < K / 32; b++, x += 32, out += 34) {
        const float d = amax_ref(x, 32) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = wh_f32_to_f16(d);
        memcpy(out, &h, 2);
        for (int i = 0; i < 32; i++) out[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
    }
}

void wh_q8_0_row(const float *x, int K, uint8_t *out)
{
    if (USE_AVX2) wh_q8_0_row_avx2(x, K, out);
    else wh_q8_0_row_ref(x, K, out);
}

/* rows r0 .. r1-1 of the M-row buffer: the same bytes wh_qx_act_quant writes for them (every
 * quantizer works row by row) */
void wh_qx_act_quant_part(int M, int K, const float *A, int lda, int pairs, void *act, int r0, int r1)
{
    int8_t *xq;
    float *dx, *sx;
    int32_t *cs;
    qx_act_parts(M, K, act, &xq, &dx, &cs, &sx);
    const size_t nb = (size_t)(K / 32), R = (size_t)r0;
    A += R * (size_t)lda;
    xq += R * (size_t)K;
    dx += R * nb;
    cs += R * nb;
    sx += R * nb;
    if (wh_kernels_vnni() && !pairs) wh_qx_quant_avx512(r1 - r0, K, A, lda, xq, dx, cs, sx);
    else if (USE_AVX2) wh_qx_quant_avx2(r1 - r0, K, A, lda, pairs, xq, dx, cs, sx);
    else wh_qx_quant_ref(r1 - r0, K, A, lda, pairs, xq, dx, cs, sx);
}

typedef void (*qx_gemv_fn)(int M, int K, const int8_t *xq, const float *dx, const int32_t *cs, const float *sx,
                           const wh_wmat *W, int n0, int n1, const float *bias, float *C, int ldc, int accumulate);

/* the int8 GEMV of the level in use, and its name */
static qx_gemv_fn qx_kernel(const char **name)
{
    static const struct { const char *name; qx_gemv_fn fn; } k[6] = {
        {"AVX512-VNNI", wh_gemv_qx_avx512}, {"AVX-VNNI", wh_gemv_qx_avxvnni},
        {"AVX-VNNI code in EVEX form", wh_gemv_qx_vnni256}, {"AVX2", wh_gemv_qx_avx2}, {"scalar", wh_gemv_qx_ref},
        {"AVX2 with pair-bounded q8_0", wh_gemv_qx_avx2p}};
    const int vpdpbusd256 = !g_pinned || g_vnni256;   /* at the AVX2 level */
    /* without vpdpbusd: the pair-bounded form where it was measured to pay (Intel's ports 0
     * and 1 carry all three of the exact form's multiplies and the sign) */
    const int pairs = g_avx2_pairs < 0 ? g_intel : g_avx2_pairs;
    const int i = wh_kernels_vnni()                 ? 0
                  : !USE_AVX2                       ? 4
                  : g_have_avxvnni && vpdpbusd256   ? 1
                  : g_vnni256                       ? 2
                  : pairs                           ? 5
                                                    : 3;
    if (name) *name = i == 0 && wh_qx_gfni ? "AVX512-VNNI, q5 unpacked by GFNI" : k[i].name;
    return k[i].fn;
}

int wh_qx_act_pairs(int type) { return type == WH_Q8X && qx_kernel(NULL) == wh_gemv_qx_avx2p; }

int wh_qx_kernel_vnni(void)
{
    const qx_gemv_fn fn = qx_kernel(NULL);
    return fn == wh_gemv_qx_avx512 || fn == wh_gemv_qx_avxvnni || fn == wh_gemv_qx_vnni256;
}

const char *wh_qx_kernel_name(void)
{
    const char *name;
    qx_kernel(&name);
    return name;
}

void wh_gemm_qx_part(int M, int K, const void *act, const wh_wmat *W, int n0, int n1, const float *bias, float *C,
                      int ldc, int accumulate)
{
    int8_t *xq;
    float *dx, *sx;
    int32_t *cs;
    qx_act_parts(M, K, act, &xq, &dx, &cs, &sx);
    qx_kernel(NULL)(M, K, xq, dx, cs, sx, W, n0, n1, bias, C, ldc, accumulate);
}

/* Tall products (M >= 8: the encoder, a decoder prompt pass): WH_QX_TALL_ROWS activation rows
 * per kernel call (WH_QX_TALL_ROWS_512 for the AVX512-VNNI kernel; a ragged end of 8 to 11
 * rows as 7 and the rest), each over a slice of the weight rows small enough to stay in L1 while every
 * row group of [r0, r1) passes over it (the activations are read from L2, once per slice). Every
 * row's sums are those of the kernel at M = 1: the same integers, scaled and added in the same
 * order. */
void wh_gemm_qx_tall(int M, int K, const void *act, int r0, int r1, const wh_wmat *W, int n0, int n1,
                     const float *bias, float *C, int ldc, int accumulate)
{
    int8_t *xq;
    float *dx, *sx;
    int32_t *cs;
    qx_act_parts(M, K, act, &xq, &dx, &cs, &sx);
    const qx_gemv_fn fn = qx_kernel(NULL);
    const int tr = fn == wh_gemv_qx_avx512 ? WH_QX_TALL_ROWS_512 : WH_QX_TALL_ROWS;
    const size_t nb = (size_t)(K / 32);
    /* weight rows per slice: about 24 KB of them, whole groups of 16 */
    int slice = (int)((24u << 10) / (nb * wh_qx_block_bytes(W->type) / 16));
    slice = slice < 16 ? 16 : slice & ~15;
    for (int c0 = n0; c0 < n1; c0 += slice) {
        const int c1 = n1 - c0 < slice ? n1 : c0 + slice;
        for (int r = r0, mr; r < r1; r += mr) {
            mr = r1 - r >= tr ? tr : r1 - r > WH_QX_TALL_ROWS ? WH_QX_TALL_ROWS : r1 - r;
            fn(mr, K, xq + (size_t)r * (size_t)K, dx + (size_t)r * nb, cs + (size_t)r * nb, sx + (size_t)r * nb, W, c0,
               c1, bias, C + (size_t)r * (size_t)ldc, ldc, accumulate);
        }
    }
}

/* ------------------------------------------------------------------ rows */

static void dequant_range(const wh_wmat *W, int r, int k0, int n, float *out)
{
    if (wh_qx_is(W->type)) {   /* k0 and n multiples of 32, as for the file types */
        uint8_t blocks[8 * 34];   /* 256 elements of the largest file block, q8_0 */
        for (int k = k0; k < k0 + n; k += 256) {
            const int nk = k0 + n - k < 256 ? k0 + n - k : 256;
            qx_file_blocks(W, r, k / 32, nk / 32, blocks);
            const wh_wmat f = {blocks, qx_file_type(W->type), nk, 0};
            dequant_range(&f, 0, 0, nk, out + (k - k0));
        }
        return;
    }
    const uint8_t *row = (const uint8_t *)W->data + (size_t)r * W->row_bytes;
    if (W->type == WH_F16 && USE_AVX2) {
        wh_f16_row_avx2((const uint16_t *)row + k0, out, n);
        return;
    }
    if (W->type == WH_I8R && USE_AVX2) {
        wh_i8r_row_avx2(row, out, k0, n);
        return;
    }
    if (W->type != WH_F32 && USE_AVX2) {
        wh_dequant_row_avx2(W->type, row, out, k0, n);
        return;
    }
    wh_dequant_row_ref(W->type, row, out, k0, n);
}

void wh_wmat_row(const wh_wmat *W, int r, float *out)
{
    wh_kernels_init();
    dequant_range(W, r, 0, W->k, out);
}

/* ------------------------------------------------------------------ vector ops */

float wh_dot(const float *a, const float *b, int n)
{
    if (USE_AVX2) return wh_dot_avx2(a, b, n);
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void wh_axpy(float *y, float a, const float *x, int n)
{
    if (USE_AVX2) { wh_axpy_avx2(y, a, x, n); return; }
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void wh_scale(float *y, float a, const float *x, int n)
{
    if (USE_AVX2) { wh_scale_avx2(y, a, x, n); return; }
    for (int i = 0; i < n; i++) y[i] = a * x[i];
}

void wh_add_rows(float *y, size_t ldy, int rows, const float *b, int n)
{
    if (USE_AVX2) { wh_add_rows_avx2(y, ldy, rows, b, n); return; }
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) y[(size_t)r * ldy + i] += b[i];
}

float wh_dot_f16(const float *a, const uint16_t *b, int n)
{
    if (USE_AVX2) return wh_dot_f16_avx2(a, b, n);
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * wh_f16_to_f32(b[i]);
    return s;
}

void wh_axpy_f16(float *y, float a, const uint16_t *x, int n)
{
    if (USE_AVX2) { wh_axpy_f16_avx2(y, a, x, n); return; }
    for (int i = 0; i < n; i++) y[i] += a * wh_f16_to_f32(x[i]);
}

void wh_to_f16(const float *x, uint16_t *y, size_t n)
{
    if (USE_AVX2) { wh_to_f16_avx2(x, y, n); return; }
    for (size_t i = 0; i < n; i++) y[i] = wh_f32_to_f16(x[i]);
}

void wh_from_f16(const uint16_t *x, float *y, size_t n)
{
    if (USE_AVX2 && n <= INT_MAX) { wh_f16_row_avx2(x, y, (int)n); return; }
    for (size_t i = 0; i < n; i++) y[i] = wh_f16_to_f32(x[i]);
}

void wh_to_f16_t(const float *x, size_t ldx, int rows, int cols, uint16_t *y, size_t ldy)
{
    if (USE_AVX2) { wh_to_f16_t_avx2(x, ldx, rows, cols, y, ldy); return; }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) y[(size_t)c * ldy + r] = wh_f32_to_f16(x[(size_t)r * ldx + c]);
}

void wh_attend_f16_blocks(const float *q, const uint16_t *const *K, const uint16_t *const *V, int bs, size_t ld,
                          int len, int dh, float *S, float *o)
{
    if (USE_AVX2 && dh == 64) { wh_attend64_avx2(q, K, V, bs, ld, len, S, o); return; }
    for (int p = 0; p < len; p++) S[p] = wh_dot_f16(q, K[p / bs] + (size_t)(p % bs) * ld, dh);
    wh_softmax(S, len);
    memset(o, 0, (size_t)dh * sizeof(float));
    for (int p = 0; p < len; p++) wh_axpy_f16(o, S[p], V[p / bs] + (size_t)(p % bs) * ld, dh);
}

size_t wh_attend_rows_pad(int len) { return ((size_t)len + WH_ATT_TILE - 1) / WH_ATT_TILE * WH_ATT_TILE; }

/* the scalar cross-attention of wh_attend_rows (ks NULL: f16 K/V) and wh_attend_rows_i8 */
static void attend_rows_scalar(int R, int dh, const float *q, size_t ldq, const void *KT, const float *ks,
                               const void *V, const float *vs, size_t ldv, int len, float *S, size_t lds, float *o,
                               size_t ldo)
{
    const uint16_t *kh = KT, *vh = V;
    const int8_t *k8 = KT, *v8 = V;
    for (int r = 0; r < R; r++) {
        const float *qr = q + (size_t)r * ldq;
        float *Sr = S + (size_t)r * lds, *orow = o + (size_t)r * ldo;
        for (int p = 0; p < len; p++) {
            const size_t at = (size_t)(p / WH_ATT_TILE) * dh * WH_ATT_TILE + p % WH_ATT_TILE;
            float s = 0;
            for (int d = 0; d < dh; d++) {
                const size_t e = at + (size_t)d * WH_ATT_TILE;
                s += qr[d] * (ks ? (float)k8[e] : wh_f16_to_f32(kh[e]));
            }
            Sr[p] = ks ? s * ks[p] : s;
        }
        wh_softmax(Sr, len);
        memset(orow, 0, (size_t)dh * sizeof(float));
        for (int p = 0; p < len; p++) {
            if (!ks) {
                wh_axpy_f16(orow, Sr[p], vh + (size_t)p * ldv, dh);
                continue;
            }
            const float a = Sr[p] * vs[p];
            for (int c = 0; c < dh; c++) orow[c] += a * (float)v8[(size_t)p * ldv + c];
        }
    }
}

void wh_attend_rows(int R, int dh, const float *q, size_t ldq, const uint16_t *KT, const uint16_t *V, size_t ldv,
                    int len, float *S, size_t lds, float *o, size_t ldo)
{
    if (USE_AVX512 && dh == 64) { wh_attend_rows_avx512(R, q, ldq, KT, V, ldv, len, S, lds, o, ldo); return; }
    if (USE_AVX2 && dh == 64) { wh_attend_rows_avx2(R, q, ldq, KT, V, ldv, len, S, lds, o, ldo); return; }
    attend_rows_scalar(R, dh, q, ldq, KT, NULL, V, NULL, ldv, len, S, lds, o, ldo);
}

void wh_attend_rows_i8(int R, int dh, const float *q, size_t ldq, const int8_t *KT, const float *ks, const int8_t *V,
                       const float *vs, size_t ldv, int len, float *S, size_t lds, float *o, size_t ldo)
{
    if (USE_AVX512 && dh == 64) { wh_attend_rows_i8_avx512(R, q, ldq, KT, ks, V, vs, ldv, len, S, lds, o, ldo); return; }
    if (USE_AVX2 && dh == 64) { wh_attend_rows_i8_avx2(R, q, ldq, KT, ks, V, vs, ldv, len, S, lds, o, ldo); return; }
    attend_rows_scalar(R, dh, q, ldq, KT, ks, V, vs, ldv, len, S, lds, o, ldo);
}

/* ------------------------------------------------------------------ cross-attention, int8 products */

static size_t a64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t wh_attend_q8_scratch(int R, int len)
{
    const size_t r = (size_t)R, lp = wh_attend_rows_pad(len);
    return 2 * a64(r * 64) + 3 * a64(r * 4) + a64(r * lp) + a64(r * (lp / 32) * sizeof(float));
}

wh_att8_parts wh_att8_split(int R, int len, void *scratch)
{
    const size_t r = (size_t)R;
    wh_att8_parts a;
    char *p = scratch;
    a.lp = wh_attend_rows_pad(len);
    a.qh = (int8_t *)p;
    p += a64(r * 64);
    a.ql = (int8_t *)p;
    p += a64(r * 64);
    a.dq = (float *)(void *)p;
    p += a64(r * 4);
    a.ch = (int32_t *)(void *)p;
    p += a64(r * 4);
    a.cl = (int32_t *)(void *)p;
    p += a64(r * 4);
    a.u = (uint8_t *)p;
    p += a64(r * a.lp);
    a.du = (float *)(void *)p;
    return a;
}

void wh_att8_queries(int R, const float *q, size_t ldq, const wh_att8_parts *a)
{
    if (USE_AVX2) {
        wh_att8_queries_avx2(R, q, ldq, a);
        return;
    }
    wh_i8_rows(R, 64, q, ldq, a->qh, 64, a->dq);
    for (int r = 0; r < R; r++) {
        const float *x = q + (size_t)r * ldq, d = a->dq[r], id = d > 0.0f ? 1.0f / d : 0.0f;   /* the quantizer's */
        const int8_t *h = a->qh + (size_t)r * 64;
        int8_t *l = a->ql + (size_t)r * 64;
        int32_t sh = 0, sl = 0;
        for (int i = 0; i < 64; i++) {   /* |x·id − h| <= 1/2: |l| <= 127 */
            l[i] = (int8_t)lrintf((x[i] * id - (float)h[i]) * 254.0f);
            sh += h[i];
            sl += l[i];
        }
        a->ch[r] = -128 * sh;
        a->cl[r] = -128 * sl;
        a->dq[r] = d / 254.0f;
    }
}

void wh_att8_put(int p, const int8_t *k, const int8_t *v, uint8_t *KU, int8_t *VQ)
{
    for (int d = 0; d < 64; d++) KU[wh_att8_kofs(p, d)] = (uint8_t)(k[d] ^ 0x80);   /* + 128 */
    for (int c = 0; c < 64; c++) VQ[wh_att8_vofs(p, c)] = v[c];
}

/* the probabilities of one row times vs, per 32 positions as unsigned bytes (the SIMD
 * kernels' numbers: the same products, max, 255 / max and rounding) */
static void att8_quant_p(const float *S, const float *vs, int len, size_t lp, uint8_t *u, float *du)
{
    for (size_t b = 0; b < lp / 32; b++) {
        float pv[32], m = 0.0f;
        for (int i = 0; i < 32; i++) {
            const size_t p = b * 32 + (size_t)i;
            pv[i] = p < (size_t)len ? S[p] * vs[p] : 0.0f;
            m = pv[i] > m ? pv[i] : m;
        }
        const float id = m > 0.0f ? 255.0f / m : 0.0f;
        for (int i = 0; i < 32; i++) u[b * 32 + (size_t)i] = (uint8_t)nearbyintf(pv[i] * id);
        du[b] = m / 255.0f;
    }
}

static void attend_rows_q8_ref(int R, const float *q, size_t ldq, const uint8_t *KU, const float *ks,
                               const int8_t *VQ, const float *vs, int len, float *S, size_t lds, void *scratch,
                               float *o, size_t ldo)
{
    const wh_att8_parts a = wh_att8_split(R, len, scratch);
    wh_att8_queries(R, q, ldq, &a);
    for (int r = 0; r < R; r++) {
        const int8_t *qh = a.qh + (size_t)r * 64, *ql = a.ql + (size_t)r * 64;
        float *Sr = S + (size_t)r * lds;
        for (int p = 0; p < len; p++) {
            int32_t h = a.ch[r], l = a.cl[r];
            for (int d = 0; d < 64; d++) {
                const int32_t k = KU[wh_att8_kofs(p, d)];
                h += k * qh[d];
                l += k * ql[d];
            }
            Sr[p] = (float)(254 * h + l) * (ks[p] * a.dq[r]);
        }
        wh_softmax(Sr, len);
        uint8_t *u = a.u + (size_t)r * a.lp;
        float *du = a.du + (size_t)r * (a.lp / 32);
        att8_quant_p(Sr, vs, len, a.lp, u, du);
        float *orow = o + (size_t)r * ldo;
        for (int c = 0; c < 64; c++) {
            float acc = 0.0f;
            for (size_t b = 0; b < a.lp / 32; b++) {
                int32_t isum = 0;
                for (int p = (int)b * 32; p < (int)b * 32 + 32; p++) isum += (int32_t)u[p] * VQ[wh_att8_vofs(p, c)];
                acc = fmaf((float)isum, du[b], acc);   /* the kernels' fma */
            }
            orow[c] = acc;
        }
    }
}

void wh_attend_rows_q8(int R, const float *q, size_t ldq, const uint8_t *KU, const float *ks, const int8_t *VQ,
                       const float *vs, int len, float *S, size_t lds, void *scratch, float *o, size_t ldo)
{
    const qx_gemv_fn fn = qx_kernel(NULL);
    if (fn == wh_gemv_qx_avx512) wh_attend_rows_q8_avx512(R, q, ldq, KU, ks, VQ, vs, len, S, lds, scratch, o, ldo);
    else if (fn == wh_gemv_qx_avxvnni)
        wh_attend_rows_q8_avxvnni(R, q, ldq, KU, ks, VQ, vs, len, S, lds, scratch, o, ldo);
    else if (fn == wh_gemv_qx_vnni256)
        wh_attend_rows_q8_vnni256(R, q, ldq, KU, ks, VQ, vs, len, S, lds, scratch, o, ldo);
    else attend_rows_q8_ref(R, q, ldq, KU, ks, VQ, vs, len, S, lds, scratch, o, ldo);
}

float wh_i8_row(const float *x, int n, int8_t *q)
{
    return USE_AVX2 ? wh_i8_row_avx2(x, n, q) : i8_row_ref(x, n, q);
}

void wh_i8_rows(int R, int n, const float *x, size_t ldx, int8_t *q, size_t ldq, float *d)
{
    if (USE_AVX2) {
        wh_i8_rows_avx2(R, n, x, ldx, q, ldq, d);
        return;
    }
    for (int r = 0; r < R; r++) d[r] = i8_row_ref(x + (size_t)r * ldx, n, q + (size_t)r * ldq);
}

void wh_exp_ref(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = expf(x[i]);
}

float wh_max(const float *x, int n)
{
    wh_kernels_init();
    if (USE_AVX2) return wh_max_avx2(x, n);
    float m = -INFINITY;
    for (int i = 0; i < n; i++) if (x[i] > m) m = x[i];
    return m;
}

static int find_ref(const float *x, int n, float t, int ge)
{
    for (int i = 0; i < n; i++)
        if (ge ? x[i] >= t : x[i] > t) return i;
    return n;
}

int wh_find_gt(const float *x, int n, float t)
{
    wh_kernels_init();
    return USE_AVX2 ? wh_find_avx2(x, n, t, 0) : find_ref(x, n, t, 0);
}

int wh_find_ge(const float *x, int n, float t)
{
    wh_kernels_init();
    return USE_AVX2 ? wh_find_avx2(x, n, t, 1) : find_ref(x, n, t, 1);
}

/* the largest non-NaN value, then its first index: the scalar loop's answer in two passes
 * that vectorize (unless x[0] is NaN, where that loop never moves) */
int wh_argmax(const float *x, int n)
{
    if (n <= 1 || x[0] != x[0]) return 0;
    const float m = wh_max(x, n);   /* >= x[0], not NaN */
    return wh_find_ge(x, n, m);
}

float wh_lse(const float *x, int n)
{
    wh_kernels_init();
    if (USE_AVX512) return wh_logsumexp_avx512(x, n);
    if (USE_AVX2) return wh_logsumexp_avx2(x, n);
    float m = -INFINITY;
    for (int i = 0; i < n; i++) if (x[i] > m) m = x[i];
    if (m == -INFINITY) return -INFINITY;
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return m + (float)log(s);
}

float wh_softmax_unnorm(float *x, int n)
{
    if (USE_AVX512) return wh_softmax_unnorm_avx512(x, n);
    if (USE_AVX2) return wh_softmax_unnorm_avx2(x, n);
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); s += x[i]; }
    return (float)s;
}

void wh_softmax_rows(float *S, int rows, int n, size_t ld, float *inv)
{
    if (USE_AVX512) { wh_softmax_rows_avx512(S, rows, n, ld, inv); return; }
    for (int r = 0; r < rows; r++) inv[r] = 1.0f / wh_softmax_unnorm(S + (size_t)r * ld, n);
}

void wh_softmax(float *x, int n)
{
    if (USE_AVX512) { wh_softmax_avx512(x, n); return; }
    if (USE_AVX2) { wh_softmax_avx2(x, n); return; }
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); s += x[i]; }
    const float inv = (float)(1.0 / s);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void wh_gelu(float *x, size_t n) { wh_gelu_bias(x, NULL, n); }

void wh_gelu_bias_rows(float *x, size_t ldx, int rows, const float *b, size_t n)
{
    if (USE_AVX512) { wh_gelu_bias_rows_avx512(x, ldx, rows, b, n); return; }
    for (int r = 0; r < rows; r++) wh_gelu_bias(x + (size_t)r * ldx, b, n);
}

void wh_gelu_bias(float *x, const float *b, size_t n)
{
    if (USE_AVX512) { wh_gelu_bias_avx512(x, b, n); return; }
    if (USE_AVX2) { wh_gelu_bias_avx2(x, b, n); return; }
    for (size_t i = 0; i < n; i++) {
        const float v = b ? x[i] + b[i] : x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

void wh_layernorm(const float *x, float *y, int rows, int n, int ld, const float *w, const float *b)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ld;
        float *yr = y + (size_t)r * ld;
        if (USE_AVX2) { wh_layernorm_row_avx2(xr, yr, n, w, b); continue; }
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) s += xr[i];
        const double mean = s / n;
        for (int i = 0; i < n; i++) { double d = xr[i] - mean; s2 += d * d; }
        const float inv = (float)(1.0 / sqrt(s2 / n + 1e-5));
        const float fm = (float)mean;
        for (int i = 0; i < n; i++) yr[i] = (xr[i] - fm) * inv * w[i] + b[i];
    }
}

/* ------------------------------------------------------------------ GEMM */

size_t wh_gemm_scratch_floats(int K)
{
    /* packed panels (KC × NC) + one dequantized row for the GEMV path + a 16-row staging
     * area used while packing */
    size_t a = (size_t)WH_GEMM_KC * WH_GEMM_NC;
    size_t b = (size_t)K + 64;
    size_t c = (size_t)16 * WH_GEMM_KC;
    return a + b + c + 64;
}

/* scalar micro-kernel with the same contract as wh_ukernel_avx2: C[mr][16] (+)= A[mr][kc] · Bp[kc][16] */
static void ukernel_scalar(int kc, const float *A, int lda, const float *Bp, float *C, int ldc, int mr, int accumulate)
{
    for (int i = 0; i < mr; i++) {
        float acc[16];
        for (int j = 0; j < 16; j++) acc[j] = accumulate ? C[(size_t)i * ldc + j] : 0.0f;
        const float *a = A + (size_t)i * lda;
        for (int k = 0; k < kc; k++) {
            const float av = a[k];
            const float *b = Bp + (size_t)k * 16;
            for (int j = 0; j < 16; j++) acc[j] += av * b[j];
        }
        for (int j = 0; j < 16; j++) C[(size_t)i * ldc + j] = acc[j];
    }
}

/* Packs rows [nb, nb+nr) (nr <= 16, zero-padded to 16) and k range [k0, k0+kc) into
 * Bp[kc][16]. */
static void pack_panel(const wh_wmat *W, int nb, int nr, int k0, int kc, float *Bp, float *stage)
{
    if (nr == 16 && USE_AVX2) {   /* full panel: 8×8 register transposes */
        const uint8_t *r0 = (const uint8_t *)W->data + (size_t)nb * W->row_bytes;
        if (W->type == WH_F32 && ((uintptr_t)r0 & 3) == 0 && W->row_bytes % 4 == 0) {
            /* f32 rows (the encoder attention's K and Vᵀ) are transposed in place, no copy */
            wh_pack16_avx2((const float *)(const void *)r0 + k0, W->row_bytes / 4, kc, Bp);
            return;
        }
        if (W->type == WH_F16 && W->row_bytes % 2 == 0) {
            wh_pack16_f16_avx2(r0 + 2 * (size_t)k0, W->row_bytes / 2, kc, Bp);
            return;
        }
        for (int j = 0; j < 16; j++) dequant_range(W, nb + j, k0, kc, stage + (size_t)j * kc);
        wh_pack16_avx2(stage, (size_t)kc, kc, Bp);
        return;
    }
    for (int j = 0; j < nr; j++) dequant_range(W, nb + j, k0, kc, stage + (size_t)j * kc);
    for (int k = 0; k < kc; k++) {
        float *dst = Bp + (size_t)k * 16;
        int j = 0;
        for (; j < nr; j++) dst[j] = stage[(size_t)j * kc + k];
        for (; j < 16; j++) dst[j] = 0.0f;
    }
}

int wh_gemv_type_ok(int type)
{
    return type == WH_F32 || type == WH_F16 || type == WH_Q8_0 || type == WH_Q5_0 || type == WH_Q5_1 ||
           type == WH_Q4_0 || type == WH_Q4_1 || type == WH_I8R;
}

/* ((C or 0) + dot) + bias for rows [nb, ne) from buf[m·64 + n - nb], as the staged path,
 * one contiguous row of C per activation row (the kernels write buf so: as [row][m] the
 * strided copy here had been ~4 % of a beam step on the AVX2 path) */
static void gemv_epilogue(int M, const float *buf, int nb, int ne, const float *bias, float *C, int ldc, int accumulate)
{
    const int nn = ne - nb;
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc + nb;
        if (accumulate) wh_axpy(c, 1.0f, buf + m * 64, nn);
        else memcpy(c, buf + m * 64, (size_t)nn * sizeof(float));
        if (bias) wh_axpy(c, 1.0f, bias + nb, nn);
    }
}

/* SIMD GEMV in blocks of 64 rows: the kernel's dot products go through a small buffer
 * [M][64] (L1), then bias and accumulation are applied as in the staged path below. */
static int gemv_simd(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1,
                     const float *bias, float *C, int ldc, int accumulate)
{
    if (!USE_AVX2 || !wh_gemv_type_ok(W->type)) return -1;
    float buf[64 * 7];
    for (int nb = n0; nb < n1; nb += 64) {
        const int ne = n1 - nb < 64 ? n1 : nb + 64;
        int rc = USE_AVX512 ? wh_gemv_avx512(M, K, A, lda, W, nb, ne, buf, 64)
                            : wh_gemv_avx2(M, K, A, lda, W, nb, ne, buf, 64);
        if (rc != 0) return -1;   /* only possible on the first block: M and type are fixed */
        gemv_epilogue(M, buf, nb, ne, bias, C, ldc, accumulate);
    }
    return 0;
}

/* A repacked type at M < 8 called on its own: A quantized into the scratch the GEMM would pack into
 * (wh_par_gemm quantizes once for all its column chunks instead) */
static void qx_part(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1, const float *bias,
                     float *C, int ldc, int accumulate, float *scratch)
{
    wh_qx_act_quant(M, K, A, lda, wh_qx_act_pairs(W->type), scratch);
    wh_gemm_qx_part(M, K, scratch, W, n0, n1, bias, C, ldc, accumulate);
}

/* Staged GEMV (the scalar reference, and the types without a register path): dequantize one
 * weight row into L1, then M dot products against it. */
static void gemv_part(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1,
                      const float *bias, float *C, int ldc, int accumulate, float *row)
{
    if (gemv_simd(M, K, A, lda, W, n0, n1, bias, C, ldc, accumulate) == 0) return;
    for (int n = n0; n < n1; n++) {
        const float *w;
        const uint8_t *rp = (const uint8_t *)W->data + (size_t)n * W->row_bytes;
        if (W->type == WH_F32 && ((uintptr_t)rp & 3) == 0) {
            w = (const float *)rp;
        } else {
            dequant_range(W, n, 0, K, row);
            w = row;
        }
        for (int m = 0; m < M; m++) {
            float v = wh_dot(A + (size_t)m * lda, w, K);
            float *c = C + (size_t)m * ldc + n;
            *c = (accumulate ? *c : 0.0f) + v + (bias ? bias[n] : 0.0f);
        }
    }
}

/* C[M][nc0 .. nc0+ncw) (+)= A[M][k0 .. k0+kc) · the packed panels Bp ([kc][16] each,
 * consecutive): rows six at a time through the micro-kernel (twelve for panel pairs at 512
 * bits). */
#define GEMM_MC 192   /* rows of A per block: kc × MC floats (192 KB) stay in L2 */

/* The column split's next pack (wh_gemm_part): its weight rows' lines asked for into L2, a
 * share before each micro-kernel call of the sweep in progress, where the pack had waited for
 * them from DRAM (the decoder's weights do not stay in any cache between passes). */
typedef struct {
    const char *p;   /* the first row's first byte; NULL: nothing */
    size_t stride;   /* between rows */
    int rows, lines; /* lines a row */
    int done, per;   /* issued, and per call */
} wpf;

static void wpf_issue(wpf *w)
{
    if (!w || !w->p) return;
    for (int i = 0; i < w->per && w->done < w->rows * w->lines; i++, w->done++)
        __builtin_prefetch(w->p + (size_t)(w->done / w->lines) * w->stride + (size_t)(w->done % w->lines) * 64, 0, 2);
}

/* C[M][nc0 .. nc0+ncw) (+)= A[M][k0 .. k0+kc) · the packed panels Bp ([kc][16] each,
 * consecutive). BLIS's loop order: for each block of GEMM_MC rows, each panel (pair, at 512
 * bits) is held in L1 while the block's rows go through the micro-kernel six (twelve) at a
 * time; the rows come from L2. (Rows outer, panels inner streamed every panel from L2
 * instead: five times the L2 traffic.)
 * Panels packed once for all threads (wh_gemm_packed_cols, wh_gemm_packed) come from L3,
 * and the first micro-kernel calls on a panel waited for it: while the block's rows go
 * through one panel (pair), the next one(s) used (the next in Bp, else the next_lines
 * 64-byte lines at `next`, where the caller's following sweep starts) is prefetched, a share
 * of its lines before each call. Base f16 encoder on a Zen 3 (AVX2), 2 threads: 70-71 ->
 * 72-73 % of the FMA peak (scratch harness, with and without it alternating in one process;
 * 1 thread 78 -> 80 %). Not for the 512-bit panel pairs on Intel: on a Xeon slice with the
 * assembly tile the prefetches stalled on fill buffers (4 % of the encoder under `perf`) and
 * the encoder ran faster without them (base f16, both libraries alternating in one process,
 * 40 windows each, 2 threads, fastest / median: 293.8 / 312.6 -> 282.9 / 303.0 ms and 288.3 /
 * 311.8 -> 276.6 / 308.0; 1 thread 551 / 586 -> 540 / 568; tiny 116.3 / 126.1 -> 114.8 /
 * 123.3); the Xeon's AVX2 path measured level, and a Zen 4's pair path is unmeasured. There
 * the 12-row assembly tile prefetches the next pair itself instead, one line into L2 per four
 * k of its loop (ukernel12_avx512.S: 282.3 / 299.9 -> 263.0 / 295.4 ms, same harness).
 * wp (or NULL): the column split's next pack, wp->per of its lines before each call. */
static void sweep(int M, const float *A, int lda, int k0, int kc, const float *Bp, int nc0, int ncw, float *C,
                  int ldc, int acc, const float *next, int next_lines, wpf *wp)
{
    void (*uk)(int, const float *, int, const float *, float *, int, int, int) =
        USE_AVX2 ? wh_ukernel_avx2 : ukernel_scalar;
    const int npan = (ncw + 15) / 16;
    float tile[6 * 16];
    for (int mb = 0; mb < M; mb += GEMM_MC) {
        const int me = M - mb < GEMM_MC ? M : mb + GEMM_MC;
        for (int p = 0; p < npan;) {
            const int nb = nc0 + p * 16;
            const int nr = ncw - p * 16 < 16 ? ncw - p * 16 : 16;
            const int pair = USE_AVX512 && ncw - p * 16 >= 32;   /* two full panels, 512-bit */
            const float *bp = Bp + (size_t)p * 16 * kc;
            const int step = pair ? 2 : 1;
            /* the panel(s) after these (one 64-byte line per k and panel), or the caller's next */
            const int ahead = npan - p - step < step ? npan - p - step : step;
            const char *pf = (const char *)(ahead > 0 ? bp + (size_t)step * 16 * kc : next);
            const int want = ahead > 0 ? kc * ahead : me == M ? next_lines : 0;
            /* Intel's pairs: the 12-row kernel prefetches them itself, kc/4 lines a call, the
             * block's calls taking consecutive shares (kpf lines in all) */
            const int lines = pair && g_intel ? 0 : want, kpf = pair && g_intel ? want : 0;
            const int rows = pair ? WH_UK512_MR : 6;   /* a call's rows of A */
            const int calls = (me - mb + rows - 1) / rows, per_call = (lines + calls - 1) / calls;
            int line = 0, kline = 0;
            for (int m0 = mb; m0 < me; m0 += rows) {
                const int mr = me - m0 < rows ? me - m0 : rows;
                for (const int end = line + per_call < lines ? line + per_call : lines; line < end; line++)
                    __builtin_prefetch(pf + (size_t)line * 64, 0, 3);
                wpf_issue(wp);
                const float *a = A + (size_t)m0 * lda + k0;
                float *c = C + (size_t)m0 * ldc + nb;
                if (pair) {
                    wh_ukernel2_avx512(kc, a, lda, bp, c, ldc, mr, acc, kline < kpf ? pf + (size_t)kline * 64 : NULL);
                    kline += kc / 4;
                } else if (nr == 16) {
                    uk(kc, a, lda, bp, c, ldc, mr, acc);
                } else {   /* ragged right edge: go through a full tile */
                    for (int i = 0; i < mr; i++)
                        for (int j = 0; j < 16; j++)
                            tile[i * 16 + j] = (acc && j < nr) ? c[(size_t)i * ldc + j] : 0.0f;
                    uk(kc, a, lda, bp, tile, 16, mr, 1);
                    for (int i = 0; i < mr; i++)
                        for (int j = 0; j < nr; j++) c[(size_t)i * ldc + j] = tile[i * 16 + j];
                }
            }
            p += pair ? 2 : 1;
        }
    }
}

/* the length of the K slice starting at k0 (0 past the end) */
static int slice_kc(int K, int k0) { return K - k0 <= 0 ? 0 : K - k0 < WH_GEMM_KC ? K - k0 : WH_GEMM_KC; }

/* where the packed panel of columns col .. col+15 in the K slice starting at k0 begins, in
 * floats (wh_pack_b_*'s layout: slice after slice, each [npan][kc][16]) */
static size_t panel_ofs(int npan, int K, int k0, int col)
{
    return (size_t)k0 * 16 * npan + (size_t)(col / 16) * 16 * slice_kc(K, k0);
}

/* the weight rows a pack of the K slice from k0 and the columns from nc0 (before n1) reads */
static wpf pack_rows(const wh_wmat *W, int K, int k0, int nc0, int n1)
{
    if (nc0 >= n1) return (wpf){0};
    const size_t b0 = ((size_t)k0 * W->row_bytes / (size_t)W->k) & ~(size_t)63;
    const size_t b1 = (size_t)(k0 + slice_kc(K, k0)) * W->row_bytes / (size_t)W->k;
    return (wpf){(const char *)W->data + (size_t)nc0 * W->row_bytes + b0, W->row_bytes,
                 n1 - nc0 < WH_GEMM_NC ? n1 - nc0 : WH_GEMM_NC, (int)((b1 - b0 + 63) / 64), 0, 0};
}

void wh_gemm_part(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1,
                  const float *bias, float *C, int ldc, int accumulate, float *scratch)
{
    wh_kernels_init();
    if (n1 <= n0 || M <= 0) return;
    float *Bp = scratch;
    float *row = scratch + (size_t)WH_GEMM_KC * WH_GEMM_NC;
    float *stage = row + K + 64;
    if (M < 8 && wh_qx_is(W->type) &&
        wh_qx_act_bytes(M, K) <= sizeof(float) * WH_GEMM_KC * WH_GEMM_NC) {
        qx_part(M, K, A, lda, W, n0, n1, bias, C, ldc, accumulate, scratch);
        return;
    }
    if (M < 8) {
        gemv_part(M, K, A, lda, W, n0, n1, bias, C, ldc, accumulate, row);
        return;
    }
    for (int nc0 = n0; nc0 < n1; nc0 += WH_GEMM_NC) {
        const int ncw = n1 - nc0 < WH_GEMM_NC ? n1 - nc0 : WH_GEMM_NC;
        const int npan = (ncw + 15) / 16;
        for (int k0 = 0; k0 < K; k0 += WH_GEMM_KC) {
            const int kc = slice_kc(K, k0);
            /* the call's first pack had no sweep before it: its panels asked for two ahead */
            wpf fp = nc0 == n0 && k0 == 0 ? pack_rows(W, K, 0, nc0, n1) : (wpf){0};
            fp.per = 32 * fp.lines;
            wpf_issue(&fp);
            fp.per = 16 * fp.lines;
            for (int p = 0; p < npan; p++) {
                int nr = ncw - p * 16 < 16 ? ncw - p * 16 : 16;
                wpf_issue(&fp);
                pack_panel(W, nc0 + p * 16, nr, k0, kc, Bp + (size_t)p * 16 * kc, stage);
            }
            /* the next pack's rows: the next K slice of these columns, else the next chunk's first */
            wpf wp = k0 + kc < K ? pack_rows(W, K, k0 + kc, nc0, n1) : pack_rows(W, K, 0, nc0 + WH_GEMM_NC, n1);
            const int rpc = USE_AVX512 ? WH_UK512_MR : 6, calls = (M + rpc - 1) / rpc * (USE_AVX512 ? (npan + 1) / 2 : npan);
            wp.per = (wp.rows * wp.lines + calls - 1) / calls;
            sweep(M, A, lda, k0, kc, Bp, nc0, ncw, C, ldc, accumulate || k0 > 0, NULL, 0, &wp);   /* packed here: in L2 */
        }
        if (bias) wh_add_rows(C + (size_t)nc0, (size_t)ldc, M, bias + nc0, ncw);
    }
}

/* The packed layout's walk (wh_pack_b_*): each K slice's ceil(N/16) panels, fn filling panel q
 * (nr <= 16 real columns, the rest zero) of the slice from k0 (kc deep) at dst */
typedef void (*pack_fn)(const void *src, size_t ld, int k0, int kc, int q, int nr, float *dst);
static void pack_panels(const void *src, size_t ld, int N, int K, float *Bp, pack_fn fn)
{
    wh_kernels_init();
    const int npan = (N + 15) / 16;
    for (int k0 = 0; k0 < K; k0 += WH_GEMM_KC)
        for (int q = 0; q < npan; q++)
            fn(src, ld, k0, slice_kc(K, k0), q, N - 16 * q < 16 ? N - 16 * q : 16, Bp + panel_ofs(npan, K, k0, 16 * q));
}

/* from N rows of K: 16 rows' kc columns transposed */
static void panel_b_f32(const void *src, size_t ld, int k0, int kc, int q, int nr, float *dst)
{
    const float *rows = (const float *)src + (size_t)16 * q * ld + k0;
    if (nr == 16 && USE_AVX2) { wh_pack16_avx2(rows, ld, kc, dst); return; }
    for (int k = 0; k < kc; k++)
        for (int j = 0; j < 16; j++) dst[(size_t)k * 16 + j] = j < nr ? rows[(size_t)j * ld + k] : 0.0f;
}

/* from K rows of N: each panel row a plain copy — of a constant 64 bytes for a full panel,
 * which the compiler inlines: the variable length had made each row a libc call (the
 * encoder's V packing: 290 000 calls a base window, 0.7 % of it under perf) */
static void panel_bt_f32(const void *src, size_t ld, int k0, int kc, int q, int nr, float *dst)
{
    const float *rows = (const float *)src + (size_t)k0 * ld + 16 * q;
    if (nr == 16) {
        for (int k = 0; k < kc; k++) memcpy(dst + (size_t)k * 16, rows + (size_t)k * ld, 16 * sizeof(float));
        return;
    }
    for (int k = 0; k < kc; k++) {
        memcpy(dst + (size_t)k * 16, rows + (size_t)k * ld, (size_t)nr * sizeof(float));
        for (int j = nr; j < 16; j++) dst[(size_t)k * 16 + j] = 0.0f;
    }
}

/* the same from f16 rows, converted */
static void panel_bt_f16(const void *src, size_t ld, int k0, int kc, int q, int nr, float *dst)
{
    const uint16_t *rows = (const uint16_t *)src + (size_t)k0 * ld + 16 * q;
    if (nr == 16 && USE_AVX2) { wh_f16_rows16_avx2(rows, ld, kc, dst); return; }
    for (int k = 0; k < kc; k++)
        for (int j = 0; j < 16; j++) dst[(size_t)k * 16 + j] = j < nr ? wh_f16_to_f32(rows[(size_t)k * ld + j]) : 0.0f;
}

void wh_pack_b_f32(const float *W, size_t ld, int N, int K, float *Bp) { pack_panels(W, ld, N, K, Bp, panel_b_f32); }
void wh_pack_bt_f32(const float *Wt, size_t ld, int N, int K, float *Bp) { pack_panels(Wt, ld, N, K, Bp, panel_bt_f32); }
void wh_pack_bt_f16(const uint16_t *Wt, size_t ld, int N, int K, float *Bp) { pack_panels(Wt, ld, N, K, Bp, panel_bt_f16); }

void wh_gemm_packed(int M, int K, const float *A, int lda, const float *Bp, int N, int n0, int n1, float *C, int ldc)
{
    wh_kernels_init();
    if (n1 <= n0 || M <= 0) return;
    const int npan = (N + 15) / 16;
    for (int nc0 = n0; nc0 < n1; nc0 += WH_GEMM_NC) {
        const int ncw = n1 - nc0 < WH_GEMM_NC ? n1 - nc0 : WH_GEMM_NC;
        for (int k0 = 0; k0 < K; k0 += WH_GEMM_KC) {
            const int kc = slice_kc(K, k0);
            const int kn = slice_kc(K, k0 + kc);   /* the next slice's */
            sweep(M, A, lda, k0, kc, Bp + panel_ofs(npan, K, k0, nc0), nc0, ncw, C, ldc, k0 > 0,
                  kn ? Bp + panel_ofs(npan, K, k0 + kc, nc0) : NULL, kn, NULL);
        }
    }
}

void wh_pack_b_wmat(const wh_wmat *W, int n0, int N, int p0, int p1, float *Bp, float *scratch, int amx)
{
    wh_kernels_init();
    const int K = W->k, npan = (N + 15) / 16;
    float *stage = scratch + (size_t)WH_GEMM_KC * WH_GEMM_NC + K + 64;   /* wh_gemm_part's staging area */
    if (amx) {   /* each panel's 16 rows (zeros past N) a K slice at a time, then split into bf16 */
        for (int k0 = 0; k0 < K; k0 += WH_GEMM_KC) {
            const int kc = slice_kc(K, k0);
            for (int q = p0; q < p1 && q < npan; q++) {
                const int nr = N - 16 * q < 16 ? N - 16 * q : 16;
                for (int j = 0; j < 16; j++)
                    if (j < nr) dequant_range(W, n0 + 16 * q + j, k0, kc, stage + (size_t)j * kc);
                    else memset(stage + (size_t)j * kc, 0, sizeof(float) * (size_t)kc);
                wh_amx_pack_b_slice(stage, (size_t)kc, kc, k0, K, (uint16_t *)(void *)(Bp + (size_t)q * 16 * K));
            }
        }
        return;
    }
    for (int k0 = 0; k0 < K; k0 += WH_GEMM_KC) {
        const int kc = slice_kc(K, k0);
        for (int q = p0; q < p1 && q < npan; q++) {
            const int nr = N - 16 * q < 16 ? N - 16 * q : 16;
            pack_panel(W, n0 + 16 * q, nr, k0, kc, Bp + panel_ofs(npan, K, k0, 16 * q), stage);
        }
    }
}

/* 32 columns (a panel pair) at a time through every K slice, then the next 32: the tile of C
 * (M × 32, M <= GEMM_MC) stays in L1 across the slices and takes its bias/GELU while there,
 * and the A block (M × K) is read from L2 once per pair. */
void wh_gemm_packed_cols(int M, int K, const float *A, int lda, const float *Bp, int N, int c0, int c1,
                         const float *bias, int gelu, float *C, int ldc, int accumulate, int amx, void *abuf)
{
    wh_kernels_init();
    if (amx) {
        wh_amx_gemm_cols(M, K, A, lda, (const uint16_t *)(const void *)Bp, c0, c1, bias, gelu, C, ldc, accumulate, abuf);
        return;
    }
    const int npan = (N + 15) / 16;
    for (int j = c0; j < c1; j += 32) {
        const int w = c1 - j < 32 ? c1 - j : 32;
        for (int k0 = 0; k0 < K; k0 += WH_GEMM_KC) {
            const int kc = slice_kc(K, k0);
            /* the next sweep's first panel: this pair's in the next slice, else the next pair's */
            const int kn = slice_kc(K, k0 + kc), k1 = slice_kc(K, 0);
            const float *next = kn ? Bp + panel_ofs(npan, K, k0 + kc, j)
                                : j + 32 < c1 ? Bp + panel_ofs(npan, K, 0, j + 32) : NULL;
            sweep(M, A, lda, k0, kc, Bp + panel_ofs(npan, K, k0, j), j, w, C, ldc, accumulate || k0 > 0, next,
                  kn ? kn : next ? k1 : 0, NULL);
        }
        if (gelu)
            wh_gelu_bias_rows(C + j, (size_t)ldc, M, bias ? bias + j : NULL, (size_t)w);
        else if (bias)
            wh_add_rows(C + j, (size_t)ldc, M, bias + j, w);
    }
}

void wh_gemm_ref(int M, int K, const float *A, int lda, const wh_wmat *W, int n0, int n1,
                 const float *bias, float *C, int ldc)
{
    float rowbuf[8192];
    for (int n = n0; n < n1; n++) {
        wh_dequant_row_ref(W->type, (const uint8_t *)W->data + (size_t)n * W->row_bytes, rowbuf, 0, K);
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[(size_t)m * lda + k] * rowbuf[k];
            C[(size_t)m * ldc + n] = (float)s + (bias ? bias[n] : 0.0f);
        }
    }
}

/* tokenizer.c — byte-level BPE (see tokenizer.h; whisper-reference.md §8, tiktoken
 * src/lib.rs: byte_pair_merge, openai/whisper whisper/tokenizer.py). */
#include "tokenizer.h"
#include "common/errbuf.h"
#include "common/utf8.h"
#include "token_bytes.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ Unicode tables
 * General categories L* (letters) and N* (numbers) as code point ranges, Unicode 14.0,
 * generated with Python's unicodedata:
 *   ranges(lambda cp: unicodedata.category(chr(cp))[0] == 'L')   (648 ranges)
 *   ranges(lambda cp: unicodedata.category(chr(cp))[0] == 'N')   (134 ranges)
 * Combining marks (M*) are neither, as in the regex crate tiktoken uses. */
static const uint32_t k_uc_letter[][2] = {
    {0x41,0x5A}, {0x61,0x7A}, {0xAA,0xAA}, {0xB5,0xB5}, {0xBA,0xBA}, {0xC0,0xD6}, {0xD8,0xF6},
    {0xF8,0x2C1}, {0x2C6,0x2D1}, {0x2E0,0x2E4}, {0x2EC,0x2EC}, {0x2EE,0x2EE}, {0x370,0x374},
    {0x376,0x377}, {0x37A,0x37D}, {0x37F,0x37F}, {0x386,0x386}, {0x388,0x38A}, {0x38C,0x38C},
    {0x38E,0x3A1}, {0x3A3,0x3F5}, {0x3F7,0x481}, {0x48A,0x52F}, {0x531,0x556}, {0x559,0x559},
    {0x560,0x588}, {0x5D0,0x5EA}, {0x5EF,0x5F2}, {0x620,0x64A}, {0x66E,0x66F}, {0x671,0x6D3},
    {0x6D5,0x6D5}, {0x6E5,0x6E6}, {0x6EE,0x6EF}, {0x6FA,0x6FC}, {0x6FF,0x6FF}, {0x710,0x710},
    {0x712,0x72F}, {0x74D,0x7A5}, {0x7B1,0x7B1}, {0x7CA,0x7EA}, {0x7F4,0x7F5}, {0x7FA,0x7FA},
    {0x800,0x815}, {0x81A,0x81A}, {0x824,0x824}, {0x828,0x828}, {0x840,0x858}, {0x860,0x86A},
    {0x870,0x887}, {0x889,0x88E}, {0x8A0,0x8C9}, {0x904,0x939}, {0x93D,0x93D}, {0x950,0x950},
    {0x958,0x961}, {0x971,0x980}, {0x985,0x98C}, {0x98F,0x990}, {0x993,0x9A8}, {0x9AA,0x9B0},
    {0x9B2,0x9B2}, {0x9B6,0x9B9}, {0x9BD,0x9BD}, {0x9CE,0x9CE}, {0x9DC,0x9DD}, {0x9DF,0x9E1},
    {0x9F0,0x9F1}, {0x9FC,0x9FC}, {0xA05,0xA0A}, {0xA0F,0xA10}, {0xA13,0xA28}, {0xA2A,0xA30},
    {0xA32,0xA33}, {0xA35,0xA36}, {0xA38,0xA39}, {0xA59,0xA5C}, {0xA5E,0xA5E}, {0xA72,0xA74},
    {0xA85,0xA8D}, {0xA8F,0xA91}, {0xA93,0xAA8}, {0xAAA,0xAB0}, {0xAB2,0xAB3}, {0xAB5,0xAB9},
    {0xABD,0xABD}, {0xAD0,0xAD0}, {0xAE0,0xAE1}, {0xAF9,0xAF9}, {0xB05,0xB0C}, {0xB0F,0xB10},
    {0xB13,0xB28}, {0xB2A,0xB30}, {0xB32,0xB33}, {0xB35,0xB39}, {0xB3D,0xB3D}, {0xB5C,0xB5D},
    {0xB5F,0xB61}, {0xB71,0xB71}, {0xB83,0xB83}, {0xB85,0xB8A}, {0xB8E,0xB90}, {0xB92,0xB95},
    {0xB99,0xB9A}, {0xB9C,0xB9C}, {0xB9E,0xB9F}, {0xBA3,0xBA4}, {0xBA8,0xBAA}, {0xBAE,0xBB9},
    {0xBD0,0xBD0}, {0xC05,0xC0C}, {0xC0E,0xC10}, {0xC12,0xC28}, {0xC2A,0xC39}, {0xC3D,0xC3D},
    {0xC58,0xC5A}, {0xC5D,0xC5D}, {0xC60,0xC61}, {0xC80,0xC80}, {0xC85,0xC8C}, {0xC8E,0xC90},
    {0xC92,0xCA8}, {0xCAA,0xCB3}, {0xCB5,0xCB9}, {0xCBD,0xCBD}, {0xCDD,0xCDE}, {0xCE0,0xCE1},
    {0xCF1,0xCF2}, {0xD04,0xD0C}, {0xD0E,0xD10}, {0xD12,0xD3A}, {0xD3D,0xD3D}, {0xD4E,0xD4E},
    {0xD54,0xD56}, {0xD5F,0xD61}, {0xD7A,0xD7F}, {0xD85,0xD96}, {0xD9A,0xDB1}, {0xDB3,0xDBB},
    {0xDBD,0xDBD}, {0xDC0,0xDC6}, {0xE01,0xE30}, {0xE32,0xE33}, {0xE40,0xE46}, {0xE81,0xE82},
    {0xE84,0xE84}, {0xE86,0xE8A}, {0xE8C,0xEA3}, {0xEA5,0xEA5}, {0xEA7,0xEB0}, {0xEB2,0xEB3},
    {0xEBD,0xEBD}, {0xEC0,0xEC4}, {0xEC6,0xEC6}, {0xEDC,0xEDF}, {0xF00,0xF00}, {0xF40,0xF47},
    {0xF49,0xF6C}, {0xF88,0xF8C}, {0x1000,0x102A}, {0x103F,0x103F}, {0x1050,0x1055},
    {0x105A,0x105D}, {0x1061,0x1061}, {0x1065,0x1066}, {0x106E,0x1070}, {0x1075,0x1081},
    {0x108E,0x108E}, {0x10A0,0x10C5}, {0x10C7,0x10C7}, {0x10CD,0x10CD}, {0x10D0,0x10FA},
    {0x10FC,0x1248}, {0x124A,0x124D}, {0x1250,0x1256}, {0x1258,0x1258}, {0x125A,0x125D},
    {0x1260,0x1288}, {0x128A,0x128D}, {0x1290,0x12B0}, {0x12B2,0x12B5}, {0x12B8,0x12BE},
    {0x12C0,0x12C0}, {0x12C2,0x12C5}, {0x12C8,0x12D6}, {0x12D8,0x1310}, {0x1312,0x1315},
    {0x1318,0x135A}, {0x1380,0x138F}, {0x13A0,0x13F5}, {0x13F8,0x13FD}, {0x1401,0x166C},
    {0x166F,0x167F}, {0x1681,0x169A}, {0x16A0,0x16EA}, {0x16F1,0x16F8}, {0x1700,0x1711},
    {0x171F,0x1731}, {0x1740,0x1751}, {0x1760,0x176C}, {0x176E,0x1770}, {0x1780,0x17B3},
    {0x17D7,0x17D7}, {0x17DC,0x17DC}, {0x1820,0x1878}, {0x1880,0x1884}, {0x1887,0x18A8},
    {0x18AA,0x18AA}, {0x18B0,0x18F5}, {0x1900,0x191E}, {0x1950,0x196D}, {0x1970,0x1974},
    {0x1980,0x19AB}, {0x19B0,0x19C9}, {0x1A00,0x1A16}, {0x1A20,0x1A54}, {0x1AA7,0x1AA7},
    {0x1B05,0x1B33}, {0x1B45,0x1B4C}, {0x1B83,0x1BA0}, {0x1BAE,0x1BAF}, {0x1BBA,0x1BE5},
    {0x1C00,0x1C23}, {0x1C4D,0x1C4F}, {0x1C5A,0x1C7D}, {0x1C80,0x1C88}, {0x1C90,0x1CBA},
    {0x1CBD,0x1CBF}, {0x1CE9,0x1CEC}, {0x1CEE,0x1CF3}, {0x1CF5,0x1CF6}, {0x1CFA,0x1CFA},
    {0x1D00,0x1DBF}, {0x1E00,0x1F15}, {0x1F18,0x1F1D}, {0x1F20,0x1F45}, {0x1F48,0x1F4D},
    {0x1F50,0x1F57}, {0x1F59,0x1F59}, {0x1F5B,0x1F5B}, {0x1F5D,0x1F5D}, {0x1F5F,0x1F7D},
    {0x1F80,0x1FB4}, {0x1FB6,0x1FBC}, {0x1FBE,0x1FBE}, {0x1FC2,0x1FC4}, {0x1FC6,0x1FCC},
    {0x1FD0,0x1FD3}, {0x1FD6,0x1FDB}, {0x1FE0,0x1FEC}, {0x1FF2,0x1FF4}, {0x1FF6,0x1FFC},
    {0x2071,0x2071}, {0x207F,0x207F}, {0x2090,0x209C}, {0x2102,0x2102}, {0x2107,0x2107},
    {0x210A,0x2113}, {0x2115,0x2115}, {0x2119,0x211D}, {0x2124,0x2124}, {0x2126,0x2126},
    {0x2128,0x2128}, {0x212A,0x212D}, {0x212F,0x2139}, {0x213C,0x213F}, {0x2145,0x2149},
    {0x214E,0x214E}, {0x2183,0x2184}, {0x2C00,0x2CE4}, {0x2CEB,0x2CEE}, {0x2CF2,0x2CF3},
    {0x2D00,0x2D25}, {0x2D27,0x2D27}, {0x2D2D,0x2D2D}, {0x2D30,0x2D67}, {0x2D6F,0x2D6F},
    {0x2D80,0x2D96}, {0x2DA0,0x2DA6}, {0x2DA8,0x2DAE}, {0x2DB0,0x2DB6}, {0x2DB8,0x2DBE},
    {0x2DC0,0x2DC6}, {0x2DC8,0x2DCE}, {0x2DD0,0x2DD6}, {0x2DD8,0x2DDE}, {0x2E2F,0x2E2F},
    {0x3005,0x3006}, {0x3031,0x3035}, {0x303B,0x303C}, {0x3041,0x3096}, {0x309D,0x309F},
    {0x30A1,0x30FA}, {0x30FC,0x30FF}, {0x3105,0x312F}, {0x3131,0x318E}, {0x31A0,0x31BF},
    {0x31F0,0x31FF}, {0x3400,0x4DBF}, {0x4E00,0xA48C}, {0xA4D0,0xA4FD}, {0xA500,0xA60C},
    {0xA610,0xA61F}, {0xA62A,0xA62B}, {0xA640,0xA66E}, {0xA67F,0xA69D}, {0xA6A0,0xA6E5},
    {0xA717,0xA71F}, {0xA722,0xA788}, {0xA78B,0xA7CA}, {0xA7D0,0xA7D1}, {0xA7D3,0xA7D3},
    {0xA7D5,0xA7D9}, {0xA7F2,0xA801}, {0xA803,0xA805}, {0xA807,0xA80A}, {0xA80C,0xA822},
    {0xA840,0xA873}, {0xA882,0xA8B3}, {0xA8F2,0xA8F7}, {0xA8FB,0xA8FB}, {0xA8FD,0xA8FE},
    {0xA90A,0xA925}, {0xA930,0xA946}, {0xA960,0xA97C}, {0xA984,0xA9B2}, {0xA9CF,0xA9CF},
    {0xA9E0,0xA9E4}, {0xA9E6,0xA9EF}, {0xA9FA,0xA9FE}, {0xAA00,0xAA28}, {0xAA40,0xAA42},
    {0xAA44,0xAA4B}, {0xAA60,0xAA76}, {0xAA7A,0xAA7A}, {0xAA7E,0xAAAF}, {0xAAB1,0xAAB1},
    {0xAAB5,0xAAB6}, {0xAAB9,0xAABD}, {0xAAC0,0xAAC0}, {0xAAC2,0xAAC2}, {0xAADB,0xAADD},
    {0xAAE0,0xAAEA}, {0xAAF2,0xAAF4}, {0xAB01,0xAB06}, {0xAB09,0xAB0E}, {0xAB11,0xAB16},
    {0xAB20,0xAB26}, {0xAB28,0xAB2E}, {0xAB30,0xAB5A}, {0xAB5C,0xAB69}, {0xAB70,0xABE2},
    {0xAC00,0xD7A3}, {0xD7B0,0xD7C6}, {0xD7CB,0xD7FB}, {0xF900,0xFA6D}, {0xFA70,0xFAD9},
    {0xFB00,0xFB06}, {0xFB13,0xFB17}, {0xFB1D,0xFB1D}, {0xFB1F,0xFB28}, {0xFB2A,0xFB36},
    {0xFB38,0xFB3C}, {0xFB3E,0xFB3E}, {0xFB40,0xFB41}, {0xFB43,0xFB44}, {0xFB46,0xFBB1},
    {0xFBD3,0xFD3D}, {0xFD50,0xFD8F}, {0xFD92,0xFDC7}, {0xFDF0,0xFDFB}, {0xFE70,0xFE74},
    {0xFE76,0xFEFC}, {0xFF21,0xFF3A}, {0xFF41,0xFF5A}, {0xFF66,0xFFBE}, {0xFFC2,0xFFC7},
    {0xFFCA,0xFFCF}, {0xFFD2,0xFFD7}, {0xFFDA,0xFFDC}, {0x10000,0x1000B}, {0x1000D,0x10026},
    {0x10028,0x1003A}, {0x1003C,0x1003D}, {0x1003F,0x1004D}, {0x10050,0x1005D}, {0x10080,0x100FA},
    {0x10280,0x1029C}, {0x102A0,0x102D0}, {0x10300,0x1031F}, {0x1032D,0x10340}, {0x10342,0x10349},
    {0x10350,0x10375}, {0x10380,0x1039D}, {0x103A0,0x103C3}, {0x103C8,0x103CF}, {0x10400,0x1049D},
    {0x104B0,0x104D3}, {0x104D8,0x104FB}, {0x10500,0x10527}, {0x10530,0x10563}, {0x10570,0x1057A},
    {0x1057C,0x1058A}, {0x1058C,0x10592}, {0x10594,0x10595}, {0x10597,0x105A1}, {0x105A3,0x105B1},
    {0x105B3,0x105B9}, {0x105BB,0x105BC}, {0x10600,0x10736}, {0x10740,0x10755}, {0x10760,0x10767},
    {0x10780,0x10785}, {0x10787,0x107B0}, {0x107B2,0x107BA}, {0x10800,0x10805}, {0x10808,0x10808},
    {0x1080A,0x10835}, {0x10837,0x10838}, {0x1083C,0x1083C}, {0x1083F,0x10855}, {0x10860,0x10876},
    {0x10880,0x1089E}, {0x108E0,0x108F2}, {0x108F4,0x108F5}, {0x10900,0x10915}, {0x10920,0x10939},
    {0x10980,0x109B7}, {0x109BE,0x109BF}, {0x10A00,0x10A00}, {0x10A10,0x10A13}, {0x10A15,0x10A17},
    {0x10A19,0x10A35}, {0x10A60,0x10A7C}, {0x10A80,0x10A9C}, {0x10AC0,0x10AC7}, {0x10AC9,0x10AE4},
    {0x10B00,0x10B35}, {0x10B40,0x10B55}, {0x10B60,0x10B72}, {0x10B80,0x10B91}, {0x10C00,0x10C48},
    {0x10C80,0x10CB2}, {0x10CC0,0x10CF2}, {0x10D00,0x10D23}, {0x10E80,0x10EA9}, {0x10EB0,0x10EB1},
    {0x10F00,0x10F1C}, {0x10F27,0x10F27}, {0x10F30,0x10F45}, {0x10F70,0x10F81}, {0x10FB0,0x10FC4},
    {0x10FE0,0x10FF6}, {0x11003,0x11037}, {0x11071,0x11072}, {0x11075,0x11075}, {0x11083,0x110AF},
    {0x110D0,0x110E8}, {0x11103,0x11126}, {0x11144,0x11144}, {0x11147,0x11147}, {0x11150,0x11172},
    {0x11176,0x11176}, {0x11183,0x111B2}, {0x111C1,0x111C4}, {0x111DA,0x111DA}, {0x111DC,0x111DC},
    {0x11200,0x11211}, {0x11213,0x1122B}, {0x11280,0x11286}, {0x11288,0x11288}, {0x1128A,0x1128D},
    {0x1128F,0x1129D}, {0x1129F,0x112A8}, {0x112B0,0x112DE}, {0x11305,0x1130C}, {0x1130F,0x11310},
    {0x11313,0x11328}, {0x1132A,0x11330}, {0x11332,0x11333}, {0x11335,0x11339}, {0x1133D,0x1133D},
    {0x11350,0x11350}, {0x1135D,0x11361}, {0x11400,0x11434}, {0x11447,0x1144A}, {0x1145F,0x11461},
    {0x11480,0x114AF}, {0x114C4,0x114C5}, {0x114C7,0x114C7}, {0x11580,0x115AE}, {0x115D8,0x115DB},
    {0x11600,0x1162F}, {0x11644,0x11644}, {0x11680,0x116AA}, {0x116B8,0x116B8}, {0x11700,0x1171A},
    {0x11740,0x11746}, {0x11800,0x1182B}, {0x118A0,0x118DF}, {0x118FF,0x11906}, {0x11909,0x11909},
    {0x1190C,0x11913}, {0x11915,0x11916}, {0x11918,0x1192F}, {0x1193F,0x1193F}, {0x11941,0x11941},
    {0x119A0,0x119A7}, {0x119AA,0x119D0}, {0x119E1,0x119E1}, {0x119E3,0x119E3}, {0x11A00,0x11A00},
    {0x11A0B,0x11A32}, {0x11A3A,0x11A3A}, {0x11A50,0x11A50}, {0x11A5C,0x11A89}, {0x11A9D,0x11A9D},
    {0x11AB0,0x11AF8}, {0x11C00,0x11C08}, {0x11C0A,0x11C2E}, {0x11C40,0x11C40}, {0x11C72,0x11C8F},
    {0x11D00,0x11D06}, {0x11D08,0x11D09}, {0x11D0B,0x11D30}, {0x11D46,0x11D46}, {0x11D60,0x11D65},
    {0x11D67,0x11D68}, {0x11D6A,0x11D89}, {0x11D98,0x11D98}, {0x11EE0,0x11EF2}, {0x11FB0,0x11FB0},
    {0x12000,0x12399}, {0x12480,0x12543}, {0x12F90,0x12FF0}, {0x13000,0x1342E}, {0x14400,0x14646},
    {0x16800,0x16A38}, {0x16A40,0x16A5E}, {0x16A70,0x16ABE}, {0x16AD0,0x16AED}, {0x16B00,0x16B2F},
    {0x16B40,0x16B43}, {0x16B63,0x16B77}, {0x16B7D,0x16B8F}, {0x16E40,0x16E7F}, {0x16F00,0x16F4A},
    {0x16F50,0x16F50}, {0x16F93,0x16F9F}, {0x16FE0,0x16FE1}, {0x16FE3,0x16FE3}, {0x17000,0x187F7},
    {0x18800,0x18CD5}, {0x18D00,0x18D08}, {0x1AFF0,0x1AFF3}, {0x1AFF5,0x1AFFB}, {0x1AFFD,0x1AFFE},
    {0x1B000,0x1B122}, {0x1B150,0x1B152}, {0x1B164,0x1B167}, {0x1B170,0x1B2FB}, {0x1BC00,0x1BC6A},
    {0x1BC70,0x1BC7C}, {0x1BC80,0x1BC88}, {0x1BC90,0x1BC99}, {0x1D400,0x1D454}, {0x1D456,0x1D49C},
    {0x1D49E,0x1D49F}, {0x1D4A2,0x1D4A2}, {0x1D4A5,0x1D4A6}, {0x1D4A9,0x1D4AC}, {0x1D4AE,0x1D4B9},
    {0x1D4BB,0x1D4BB}, {0x1D4BD,0x1D4C3}, {0x1D4C5,0x1D505}, {0x1D507,0x1D50A}, {0x1D50D,0x1D514},
    {0x1D516,0x1D51C}, {0x1D51E,0x1D539}, {0x1D53B,0x1D53E}, {0x1D540,0x1D544}, {0x1D546,0x1D546},
    {0x1D54A,0x1D550}, {0x1D552,0x1D6A5}, {0x1D6A8,0x1D6C0}, {0x1D6C2,0x1D6DA}, {0x1D6DC,0x1D6FA},
    {0x1D6FC,0x1D714}, {0x1D716,0x1D734}, {0x1D736,0x1D74E}, {0x1D750,0x1D76E}, {0x1D770,0x1D788},
    {0x1D78A,0x1D7A8}, {0x1D7AA,0x1D7C2}, {0x1D7C4,0x1D7CB}, {0x1DF00,0x1DF1E}, {0x1E100,0x1E12C},
    {0x1E137,0x1E13D}, {0x1E14E,0x1E14E}, {0x1E290,0x1E2AD}, {0x1E2C0,0x1E2EB}, {0x1E7E0,0x1E7E6},
    {0x1E7E8,0x1E7EB}, {0x1E7ED,0x1E7EE}, {0x1E7F0,0x1E7FE}, {0x1E800,0x1E8C4}, {0x1E900,0x1E943},
    {0x1E94B,0x1E94B}, {0x1EE00,0x1EE03}, {0x1EE05,0x1EE1F}, {0x1EE21,0x1EE22}, {0x1EE24,0x1EE24},
    {0x1EE27,0x1EE27}, {0x1EE29,0x1EE32}, {0x1EE34,0x1EE37}, {0x1EE39,0x1EE39}, {0x1EE3B,0x1EE3B},
    {0x1EE42,0x1EE42}, {0x1EE47,0x1EE47}, {0x1EE49,0x1EE49}, {0x1EE4B,0x1EE4B}, {0x1EE4D,0x1EE4F},
    {0x1EE51,0x1EE52}, {0x1EE54,0x1EE54}, {0x1EE57,0x1EE57}, {0x1EE59,0x1EE59}, {0x1EE5B,0x1EE5B},
    {0x1EE5D,0x1EE5D}, {0x1EE5F,0x1EE5F}, {0x1EE61,0x1EE62}, {0x1EE64,0x1EE64}, {0x1EE67,0x1EE6A},
    {0x1EE6C,0x1EE72}, {0x1EE74,0x1EE77}, {0x1EE79,0x1EE7C}, {0x1EE7E,0x1EE7E}, {0x1EE80,0x1EE89},
    {0x1EE8B,0x1EE9B}, {0x1EEA1,0x1EEA3}, {0x1EEA5,0x1EEA9}, {0x1EEAB,0x1EEBB}, {0x20000,0x2A6DF},
    {0x2A700,0x2B738}, {0x2B740,0x2B81D}, {0x2B820,0x2CEA1}, {0x2CEB0,0x2EBE0}, {0x2F800,0x2FA1D},
    {0x30000,0x3134A},
};
static const uint32_t k_uc_number[][2] = {
    {0x30,0x39}, {0xB2,0xB3}, {0xB9,0xB9}, {0xBC,0xBE}, {0x660,0x669}, {0x6F0,0x6F9}, {0x7C0,0x7C9},
    {0x966,0x96F}, {0x9E6,0x9EF}, {0x9F4,0x9F9}, {0xA66,0xA6F}, {0xAE6,0xAEF}, {0xB66,0xB6F},
    {0xB72,0xB77}, {0xBE6,0xBF2}, {0xC66,0xC6F}, {0xC78,0xC7E}, {0xCE6,0xCEF}, {0xD58,0xD5E},
    {0xD66,0xD78}, {0xDE6,0xDEF}, {0xE50,0xE59}, {0xED0,0xED9}, {0xF20,0xF33}, {0x1040,0x1049},
    {0x1090,0x1099}, {0x1369,0x137C}, {0x16EE,0x16F0}, {0x17E0,0x17E9}, {0x17F0,0x17F9},
    {0x1810,0x1819}, {0x1946,0x194F}, {0x19D0,0x19DA}, {0x1A80,0x1A89}, {0x1A90,0x1A99},
    {0x1B50,0x1B59}, {0x1BB0,0x1BB9}, {0x1C40,0x1C49}, {0x1C50,0x1C59}, {0x2070,0x2070},
    {0x2074,0x2079}, {0x2080,0x2089}, {0x2150,0x2182}, {0x2185,0x2189}, {0x2460,0x249B},
    {0x24EA,0x24FF}, {0x2776,0x2793}, {0x2CFD,0x2CFD}, {0x3007,0x3007}, {0x3021,0x3029},
    {0x3038,0x303A}, {0x3192,0x3195}, {0x3220,0x3229}, {0x3248,0x324F}, {0x3251,0x325F},
    {0x3280,0x3289}, {0x32B1,0x32BF}, {0xA620,0xA629}, {0xA6E6,0xA6EF}, {0xA830,0xA835},
    {0xA8D0,0xA8D9}, {0xA900,0xA909}, {0xA9D0,0xA9D9}, {0xA9F0,0xA9F9}, {0xAA50,0xAA59},
    {0xABF0,0xABF9}, {0xFF10,0xFF19}, {0x10107,0x10133}, {0x10140,0x10178}, {0x1018A,0x1018B},
    {0x102E1,0x102FB}, {0x10320,0x10323}, {0x10341,0x10341}, {0x1034A,0x1034A}, {0x103D1,0x103D5},
    {0x104A0,0x104A9}, {0x10858,0x1085F}, {0x10879,0x1087F}, {0x108A7,0x108AF}, {0x108FB,0x108FF},
    {0x10916,0x1091B}, {0x109BC,0x109BD}, {0x109C0,0x109CF}, {0x109D2,0x109FF}, {0x10A40,0x10A48},
    {0x10A7D,0x10A7E}, {0x10A9D,0x10A9F}, {0x10AEB,0x10AEF}, {0x10B58,0x10B5F}, {0x10B78,0x10B7F},
    {0x10BA9,0x10BAF}, {0x10CFA,0x10CFF}, {0x10D30,0x10D39}, {0x10E60,0x10E7E}, {0x10F1D,0x10F26},
    {0x10F51,0x10F54}, {0x10FC5,0x10FCB}, {0x11052,0x1106F}, {0x110F0,0x110F9}, {0x11136,0x1113F},
    {0x111D0,0x111D9}, {0x111E1,0x111F4}, {0x112F0,0x112F9}, {0x11450,0x11459}, {0x114D0,0x114D9},
    {0x11650,0x11659}, {0x116C0,0x116C9}, {0x11730,0x1173B}, {0x118E0,0x118F2}, {0x11950,0x11959},
    {0x11C50,0x11C6C}, {0x11D50,0x11D59}, {0x11DA0,0x11DA9}, {0x11FC0,0x11FD4}, {0x12400,0x1246E},
    {0x16A60,0x16A69}, {0x16AC0,0x16AC9}, {0x16B50,0x16B59}, {0x16B5B,0x16B61}, {0x16E80,0x16E96},
    {0x1D2E0,0x1D2F3}, {0x1D360,0x1D378}, {0x1D7CE,0x1D7FF}, {0x1E140,0x1E149}, {0x1E2F0,0x1E2F9},
    {0x1E8C7,0x1E8CF}, {0x1E950,0x1E959}, {0x1EC71,0x1ECAB}, {0x1ECAD,0x1ECAF}, {0x1ECB1,0x1ECB4},
    {0x1ED01,0x1ED2D}, {0x1ED2F,0x1ED3D}, {0x1F100,0x1F10C}, {0x1FBF0,0x1FBF9},
};

int wh_uc_is_letter(uint32_t cp)
{
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return sp_uc_in_ranges(k_uc_letter, sizeof k_uc_letter / sizeof k_uc_letter[0], cp);
}

int wh_uc_is_number(uint32_t cp)
{
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return sp_uc_in_ranges(k_uc_number, sizeof k_uc_number / sizeof k_uc_number[0], cp);
}

/* \s of the regex crate: the Unicode White_Space property. */
int wh_uc_is_space(uint32_t cp)
{
    return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* ------------------------------------------------------------------ tokenizer */

struct wh_tokenizer {
    const wh_token_bytes *vocab;   /* the caller's, or fixed (below) */
    /* ids 0..255 are GPT-2's single-byte tokens. whisper.cpp's model files store every token
     * that is not valid UTF-8 on its own as its bytes decoded with replacement characters
     * (U+FFFD, "\xef\xbf\xbd"), which loses bytes 0x80..0xFF; when the file's first 256 tokens
     * are consistent with GPT-2's byte order we use that order instead (bytes_to_unicode:
     * 33..126, 161..172, 174..255, then the other 68 bytes ascending). The multi-byte
     * fragments above 255 (216 gpt2 ranks, 1348 multilingual ones, e.g. 4222 = F0 9F) are
     * lost the same way; their real bytes come from openai's rank files (token_bytes.h), put
     * back by restore_fragments when the vocabulary is provably openai's. Without them an
     * emoji decodes as "\ufffd\ufffd\ufffd" and a CJK prompt encodes into ~3x the tokens. */
    wh_token_bytes bytes256[256];
    int gpt2_bytes;
    int n_restored;      /* fragment tokens whose bytes were put back */
    wh_token_bytes *fixed;   /* the vocabulary with them (owned), or NULL */
    int n_tokens, eot;
    int *slots;          /* open addressing: id or -1; size mask + 1 */
    uint32_t mask;
    char *own_bytes;     /* wh_tok_load_file: the file's bytes */
    wh_token_bytes *own_vocab;
};

static const char k_byte_val[256] = {
#define B4(n) (char)(n), (char)(n + 1), (char)(n + 2), (char)(n + 3)
#define B16(n) B4(n), B4(n + 4), B4(n + 8), B4(n + 12)
    B16(0), B16(16), B16(32), B16(48), B16(64), B16(80), B16(96), B16(112),
    B16(128), B16(144), B16(160), B16(176), B16(192), B16(208), B16(224), B16(240)
#undef B16
#undef B4
};

static void gpt2_byte_order(unsigned char *byte_of_id)
{
    int n = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) byte_of_id[n++] = (unsigned char)b;
    for (int b = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) byte_of_id[n++] = (unsigned char)b;
}

static inline const wh_token_bytes *tok(const wh_tokenizer *t, int id)
{
    return id < 256 && t->gpt2_bytes ? &t->bytes256[id] : &t->vocab[id];
}

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

int wh_tok_find(const wh_tokenizer *t, const char *bytes, size_t len)
{
    if (!t || len == 0) return -1;
    for (uint32_t h = hash_bytes(bytes, len) & t->mask;; h = (h + 1) & t->mask) {
        int id = t->slots[h];
        if (id < 0) return -1;
        const wh_token_bytes *v = tok(t, id);
        if (v->len == len && !memcmp(v->bytes, bytes, len)) return id;
    }
}

static uint64_t vocab_hash(const wh_token_bytes *v, int n)
{
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a 64, as tools/gen_token_bytes.py */
    for (int i = 0; i < n; i++) {
        const unsigned char len[4] = {(unsigned char)v[i].len, (unsigned char)(v[i].len >> 8),
                                      (unsigned char)(v[i].len >> 16), (unsigned char)(v[i].len >> 24)};
        for (int k = 0; k < 4; k++) h = (h ^ len[k]) * 0x100000001b3ull;
        for (uint32_t k = 0; k < v[i].len; k++) h = (h ^ (unsigned char)v[i].bytes[k]) * 0x100000001b3ull;
    }
    return h;
}

/* Puts back the fragments' real bytes (see struct wh_tokenizer) where the entry is exactly
 * what they become decoded with replacement characters, and only when every fragment id of
 * the table holds that form or the real bytes, and the vocabulary below eot is then
 * byte-for-byte openai's (hash): any other vocabulary is left as it is. The table is chosen
 * by eot (50256: gpt2 ranks, .en files; 50257: multilingual, v3 too). SP_ERR_NOMEM only. */
static sp_status restore_fragments(wh_tokenizer *t)
{
    const uint16_t *ids;
    const uint8_t *lens;
    const char *pool;
    int n;
    uint64_t want;
    if (t->eot == WH_FRAG_GPT2_RANKS) {
        ids = k_frag_gpt2_id; lens = k_frag_gpt2_len; pool = k_frag_gpt2_bytes; n = WH_FRAG_GPT2_N;
        want = WH_FRAG_GPT2_HASH;
    } else if (t->eot == WH_FRAG_MULTILINGUAL_RANKS) {
        ids = k_frag_multilingual_id; lens = k_frag_multilingual_len; pool = k_frag_multilingual_bytes;
        n = WH_FRAG_MULTILINGUAL_N; want = WH_FRAG_MULTILINGUAL_HASH;
    } else {
        return SP_OK;
    }
    if (t->n_tokens < t->eot) return SP_OK;
    int lossy = 0;
    size_t off = 0;
    for (int i = 0; i < n; off += lens[i++]) {
        const wh_token_bytes *v = tok(t, ids[i]);
        char rep[3 * 255 + 1];
        const size_t rn = sp_utf8_repair(pool + off, lens[i], rep);
        if (v->len == lens[i] && !memcmp(v->bytes, pool + off, lens[i])) continue;
        if (v->len != rn || memcmp(v->bytes, rep, rn)) return SP_OK;   /* not openai's */
        lossy++;
    }
    if (!lossy) return SP_OK;   /* already the real bytes (CTranslate2, Transformers) */
    wh_token_bytes *f = malloc(sizeof *f * (size_t)t->n_tokens);
    if (!f) return SP_ERR_NOMEM;
    for (int id = 0; id < t->n_tokens; id++) f[id] = *tok(t, id);
    off = 0;
    for (int i = 0; i < n; off += lens[i++]) f[ids[i]] = (wh_token_bytes){pool + off, lens[i]};
    if (vocab_hash(f, t->eot) != want) { free(f); return SP_OK; }
    t->fixed = f;
    t->vocab = f;
    t->gpt2_bytes = 0;   /* f holds ids 0..255 as restored */
    t->n_restored = lossy;
    return SP_OK;
}

int wh_tok_n_restored(const wh_tokenizer *t) { return t ? t->n_restored : 0; }

sp_status wh_tok_new(const wh_token_bytes *vocab, int n_tokens, int eot, wh_tokenizer **out)
{
    if (!out) return SP_ERR_INVALID_ARG;
    *out = NULL;
    if ((!vocab && n_tokens > 0) || n_tokens < 0) return SP_ERR_INVALID_ARG;
    wh_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return SP_ERR_NOMEM;
    t->vocab = vocab;
    t->n_tokens = n_tokens;
    t->eot = eot;
    uint32_t size = 1024;
    while (size < (uint32_t)n_tokens * 2u) size <<= 1;
    t->mask = size - 1;
    t->slots = malloc(sizeof(int) * size);
    if (!t->slots) { free(t); return SP_ERR_NOMEM; }
    for (uint32_t i = 0; i < size; i++) t->slots[i] = -1;
    /* ranks: the lowest id wins for duplicate byte strings; empty tokens (multilingual id
     * 50256) and ids >= eot (specials some files store) are not part of the BPE */
    int lim = n_tokens < eot ? n_tokens : eot;
    if (lim >= 256) {
        unsigned char byte_of_id[256];
        gpt2_byte_order(byte_of_id);
        int ok = 1;
        for (int i = 0; i < 256 && ok; i++)
            ok = (vocab[i].len == 1 && (unsigned char)vocab[i].bytes[0] == byte_of_id[i]) ||
                 (byte_of_id[i] >= 0x80 && vocab[i].len == 3 && !memcmp(vocab[i].bytes, "\xef\xbf\xbd", 3));
        if (ok) {
            t->gpt2_bytes = 1;
            for (int i = 0; i < 256; i++) t->bytes256[i] = (wh_token_bytes){&k_byte_val[byte_of_id[i]], 1};
        }
    }
    if (restore_fragments(t) != SP_OK) { free(t->slots); free(t); return SP_ERR_NOMEM; }
    for (int id = 0; id < lim; id++) {
        const wh_token_bytes *v = tok(t, id);
        if (v->len == 0) continue;
        if (wh_tok_find(t, v->bytes, v->len) >= 0) continue;
        uint32_t h = hash_bytes(v->bytes, v->len) & t->mask;
        while (t->slots[h] >= 0) h = (h + 1) & t->mask;
        t->slots[h] = id;
    }
    *out = t;
    return SP_OK;
}

void wh_tok_free(wh_tokenizer *t)
{
    if (!t) return;
    free(t->slots);
    free(t->fixed);
    free(t->own_bytes);
    free(t->own_vocab);
    free(t);
}

int wh_tok_eot(const wh_tokenizer *t) { return t->eot; }
int wh_tok_n_tokens(const wh_tokenizer *t) { return t->n_tokens; }

static int rd_i32(const unsigned char *b, size_t size, size_t *pos, int32_t *v)
{
    if (size - *pos < 4) return -1;
    *v = (int32_t)((uint32_t)b[*pos] | (uint32_t)b[*pos + 1] << 8 | (uint32_t)b[*pos + 2] << 16 | (uint32_t)b[*pos + 3] << 24);
    *pos += 4;
    return 0;
}

sp_status wh_tok_load_file(const char *path, wh_tokenizer **out, int *n_vocab, char *err, size_t err_size)
{
    if (out) *out = NULL;
    if (n_vocab) *n_vocab = 0;
    if (!path || !out) return SP_ERR_INVALID_ARG;
    FILE *f = fopen(path, "rb");
    if (!f) { sp_errf(err, err_size, "%s: cannot open", path); return SP_ERR_IO; }
    /* the vocabulary follows a filterbank of at most 512 x 201 floats: 16 MiB is plenty */
    size_t cap = (size_t)16 << 20, size = 0;
    unsigned char *b = malloc(cap);
    if (!b) { fclose(f); return SP_ERR_NOMEM; }
    size = fread(b, 1, cap, f);
    fclose(f);
    size_t pos = 0;
    int32_t v, h[11], nmel, nfft, ntok;
    sp_status st = SP_ERR_MODEL_FORMAT;
    if (rd_i32(b, size, &pos, &v) || (uint32_t)v != 0x67676d6cu) { sp_errf(err, err_size, "%s: not a ggml Whisper model", path); goto fail; }
    for (int i = 0; i < 11; i++) if (rd_i32(b, size, &pos, &h[i])) { sp_errf(err, err_size, "%s: truncated header", path); goto fail; }
    if (h[0] < 51864 || h[0] > 51866) { sp_errf(err, err_size, "%s: unsupported n_vocab %d", path, h[0]); goto fail; }
    if (rd_i32(b, size, &pos, &nmel) || rd_i32(b, size, &pos, &nfft) || nmel < 1 || nmel > 512 || nfft < 1 || nfft > 1024 ||
        size - pos < (size_t)nmel * (size_t)nfft * 4) { sp_errf(err, err_size, "%s: bad mel filterbank", path); goto fail; }
    pos += (size_t)nmel * (size_t)nfft * 4;
    if (rd_i32(b, size, &pos, &ntok) || ntok < 0 || ntok > h[0]) { sp_errf(err, err_size, "%s: bad vocabulary size", path); goto fail; }
    wh_token_bytes *voc = calloc((size_t)ntok + 1, sizeof *voc);
    if (!voc) { st = SP_ERR_NOMEM; goto fail; }
    for (int i = 0; i < ntok; i++) {
        int32_t len;
        if (rd_i32(b, size, &pos, &len) || len < 0 || len > 1024 || size - pos < (size_t)len) {
            sp_errf(err, err_size, "%s: truncated in the vocabulary at token %d", path, i);
            free(voc);
            goto fail;
        }
        voc[i].bytes = (const char *)b + pos;
        voc[i].len = (uint32_t)len;
        pos += (size_t)len;
    }
    int eot = h[0] >= 51865 ? 50257 : 50256;
    wh_tokenizer *t;
    st = wh_tok_new(voc, ntok, eot, &t);
    if (st != SP_OK) { free(voc); goto fail; }
    t->own_bytes = (char *)b;
    t->own_vocab = voc;
    *out = t;
    if (n_vocab) *n_vocab = h[0];
    return SP_OK;
fail:
    free(b);
    return st;
}

char *wh_tok_decode(const wh_tokenizer *t, const int *ids, int n)
{
    int lim = t->n_tokens < t->eot ? t->n_tokens : t->eot;
    size_t total = 0;
    for (int i = 0; i < n; i++) if (ids[i] >= 0 && ids[i] < lim) total += tok(t, ids[i])->len;
    char *raw = malloc(total + 1), *txt = malloc(3 * total + 1);
    if (!raw || !txt) { free(raw); free(txt); return NULL; }
    size_t o = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < lim) {
            const wh_token_bytes *v = tok(t, ids[i]);
            memcpy(raw + o, v->bytes, v->len);
            o += v->len;
        }
    sp_utf8_repair(raw, o, txt);
    free(raw);
    return txt;
}

/* ------------------------------------------------------------------ pre-split
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * over valid UTF-8, by hand: at each position the first alternative that matches wins. */

typedef struct { const unsigned char *s; size_t n; } u8;

/* code point at byte offset i and its length */
static uint32_t cp_at(u8 t, size_t i, int *len)
{
    int bad = 0;
    int l = sp_utf8_seq(t.s + i, t.n - i, &bad);
    if (!l) { *len = 1; return 0xFFFD; }   /* not reached on repaired input */
    *len = l;
    return sp_utf8_cp(t.s + i, l);
}

enum { C_LETTER, C_NUMBER, C_SPACE, C_OTHER };
static int cls(uint32_t cp)
{
    if (wh_uc_is_letter(cp)) return C_LETTER;
    if (wh_uc_is_number(cp)) return C_NUMBER;
    if (wh_uc_is_space(cp)) return C_SPACE;
    return C_OTHER;
}

/* end of the run of class c starting at i */
static size_t run_end(u8 t, size_t i, int c)
{
    while (i < t.n) {
        int l;
        uint32_t cp = cp_at(t, i, &l);
        if (cls(cp) != c) break;
        i += (size_t)l;
    }
    return i;
}

int wh_tok_presplit(const char *text, size_t len, int (*fn)(const char *p, size_t n, void *user), void *user)
{
    u8 t = {(const unsigned char *)text, len};
    size_t i = 0;
    while (i < t.n) {
        int l;
        uint32_t cp = cp_at(t, i, &l);
        size_t end = 0;
        /* contractions (lowercase only) */
        if (cp == '\'' && i + 1 < t.n) {
            const unsigned char *q = t.s + i + 1;
            size_t rem = t.n - i - 1;
            if (q[0] == 's' || q[0] == 't' || q[0] == 'm' || q[0] == 'd') end = i + 2;
            else if (rem >= 2 && ((q[0] == 'r' && q[1] == 'e') || (q[0] == 'v' && q[1] == 'e') || (q[0] == 'l' && q[1] == 'l'))) end = i + 3;
        }
        if (!end) {
            int c = cls(cp);
            size_t j = i;
            if (cp == ' ' && i + 1 < t.n) {   /* " ?X+": a literal space before a non-space run */
                int l2;
                int c2 = cls(cp_at(t, i + 1, &l2));
                if (c2 != C_SPACE) { c = c2; j = i + 1; }
            }
            if (c != C_SPACE) {
                end = run_end(t, j, c);
            } else {
                /* \s+(?!\S) | \s+ : a whitespace run followed by a non-space gives up its last
                 * character (when it has more than one) */
                size_t e = run_end(t, i, C_SPACE);
                if (e < t.n) {
                    size_t last = i, k = i;
                    while (k < e) { int lk; cp_at(t, k, &lk); last = k; k += (size_t)lk; }
                    if (last > i) e = last;
                }
                end = e;
            }
        }
        int r = fn(text + i, end - i, user);
        if (r) return r;
        i = end;
    }
    return 0;
}

/* ------------------------------------------------------------------ BPE */

typedef struct {
    const wh_tokenizer *t;
    int *ids;
    int n, cap;
    size_t *parts;       /* scratch: part starts, piece length + 1 */
    int *ranks;
    size_t parts_cap;
    int oom;
} enc_state;

static int push_id(enc_state *e, int id)
{
    if (id < 0) return 0;   /* a byte the vocabulary lacks (cannot happen with GPT-2's) */
    if (e->n == e->cap) {
        int nc = e->cap ? e->cap * 2 : 64;
        int *ni = realloc(e->ids, sizeof(int) * (size_t)nc);
        if (!ni) { e->oom = 1; return -1; }
        e->ids = ni;
        e->cap = nc;
    }
    e->ids[e->n++] = id;
    return 0;
}

#define NO_RANK 0x7fffffff

/* rank of the bytes spanning parts[i] .. parts[i + 2] */
static int pair_rank(const enc_state *e, const char *p, int np, int i)
{
    if (i < 0 || i + 2 >= np + 1) return NO_RANK;
    int id = wh_tok_find(e->t, p + e->parts[i], e->parts[i + 2] - e->parts[i]);
    return id < 0 ? NO_RANK : id;
}

static int encode_piece(const char *p, size_t n, void *user)
{
    enc_state *e = user;
    int id = wh_tok_find(e->t, p, n);
    if (id >= 0) return push_id(e, id);
    if (n + 1 > e->parts_cap) {
        size_t nc = n + 1 > 256 ? n + 1 : 256;
        size_t *np_ = realloc(e->parts, sizeof(size_t) * nc);
        if (!np_) { e->oom = 1; return -1; }
        e->parts = np_;
        int *nr = realloc(e->ranks, sizeof(int) * nc);
        if (!nr) { e->oom = 1; return -1; }
        e->ranks = nr;
        e->parts_cap = nc;
    }
    /* tiktoken byte_pair_merge: parts = byte boundaries; ranks[i] = rank of parts i, i+1 */
    int np = (int)n;   /* number of parts; parts[np] = n is the end sentinel */
    for (int i = 0; i <= np; i++) e->parts[i] = (size_t)i;
    for (int i = 0; i < np; i++) e->ranks[i] = pair_rank(e, p, np, i);
    for (;;) {
        int best = NO_RANK, bi = -1;
        for (int i = 0; i < np - 1; i++)
            if (e->ranks[i] < best) { best = e->ranks[i]; bi = i; }
        if (bi < 0) break;
        /* merge parts bi and bi+1: drop boundary bi+1 */
        memmove(e->parts + bi + 1, e->parts + bi + 2, sizeof(size_t) * (size_t)(np - bi - 1));
        memmove(e->ranks + bi + 1, e->ranks + bi + 2, sizeof(int) * (size_t)(np > bi + 2 ? np - bi - 2 : 0));
        np--;
        e->ranks[bi] = pair_rank(e, p, np, bi);
        if (bi > 0) e->ranks[bi - 1] = pair_rank(e, p, np, bi - 1);
    }
    for (int i = 0; i < np; i++)
        if (push_id(e, wh_tok_find(e->t, p + e->parts[i], e->parts[i + 1] - e->parts[i]))) return -1;
    return 0;
}

int wh_tok_encode(const wh_tokenizer *t, const char *text, size_t len, int **ids)
{
    *ids = NULL;
    char *clean = malloc(3 * len + 1);
    if (!clean) return -1;
    size_t cl = sp_utf8_repair(text ? text : "", text ? len : 0, clean);
    enc_state e = {.t = t};
    int r = wh_tok_presplit(clean, cl, encode_piece, &e);
    free(clean);
    free(e.parts);
    free(e.ranks);
    if (r || e.oom) { free(e.ids); return -1; }
    if (!e.ids) { e.ids = malloc(sizeof(int)); if (!e.ids) return -1; }
    *ids = e.ids;
    return e.n;
}

/* ------------------------------------------------------------------ non-speech set */

static const int k_nonspeech_en[] = {
    1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 357, 366, 438,
    532, 685, 705, 796, 930, 1058, 1220, 1267, 1279, 1303, 1343, 1377, 1391, 1635, 1782, 1875, 2162, 2361,
    2488, 3467, 4008, 4211, 4600, 4808, 5299, 5855, 6329, 7203, 9609, 9959, 10563, 10786, 11420, 11709,
    11907, 13163, 13697, 13700, 14808, 15306, 16410, 16791, 17992, 19203, 19510, 20724, 22305, 22935,
    27007, 30109, 30420, 33409, 34949, 40283, 40493, 40549, 47282, 49146};
static const int k_nonspeech_multi[] = {
    1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 359, 503, 522,
    542, 873, 893, 902, 918, 922, 931, 1350, 1853, 1982, 2460, 2627, 3246, 3253, 3268, 3536, 3846, 3961,
    4183, 4667, 6585, 6647, 7273, 9061, 9383, 10428, 10929, 11938, 12033, 12331, 12562, 13793, 14157,
    14635, 15265, 15618, 16553, 16604, 18362, 18956, 20075, 21675, 22520, 26130, 26161, 26435, 28279,
    29464, 31650, 32302, 32470, 36865, 42863, 47425, 49870, 50254};

int wh_nonspeech_table(int multilingual, const int **ids)
{
    if (multilingual) {
        *ids = k_nonspeech_multi;
        return (int)(sizeof k_nonspeech_multi / sizeof k_nonspeech_multi[0]);
    }
    *ids = k_nonspeech_en;
    return (int)(sizeof k_nonspeech_en / sizeof k_nonspeech_en[0]);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int wh_tok_nonspeech_compute(const wh_tokenizer *t, int *out, int cap)
{
    /* openai tokenizer.py non_speech_tokens */
    static const char *const symbols[] = {
        "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_", "`",
        "{", "|", "}", "~", "\xe3\x80\x8c", "\xe3\x80\x8d", "\xe3\x80\x8e", "\xe3\x80\x8f",   /* 「」『』 */
        "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[", "]]",
        "{{", "}}", "\xe2\x99\xaa\xe2\x99\xaa", "\xe2\x99\xaa\xe2\x99\xaa\xe2\x99\xaa"};      /* ♪♪ ♪♪♪ */
    static const char *const misc[] = {   /* ♩♪♫♬♭♮♯ */
        "\xe2\x99\xa9", "\xe2\x99\xaa", "\xe2\x99\xab", "\xe2\x99\xac", "\xe2\x99\xad", "\xe2\x99\xae", "\xe2\x99\xaf"};
    int n = 0, *ids, k;
    char buf[32];
#define ADD(x) do { if (n < cap) out[n++] = (x); } while (0)
    if ((k = wh_tok_encode(t, " -", 2, &ids)) < 0) return -1;
    if (k > 0) ADD(ids[0]);
    free(ids);
    if ((k = wh_tok_encode(t, " '", 2, &ids)) < 0) return -1;
    if (k > 0) ADD(ids[0]);
    free(ids);
    const int ns = (int)(sizeof symbols / sizeof symbols[0]), nm = (int)(sizeof misc / sizeof misc[0]);
    for (int s = 0; s < ns + nm; s++) {
        const char *sym = s < ns ? symbols[s] : misc[s - ns];
        for (int sp = 0; sp < 2; sp++) {
            snprintf(buf, sizeof buf, "%s%s", sp ? " " : "", sym);
            if ((k = wh_tok_encode(t, buf, strlen(buf), &ids)) < 0) return -1;
            if (k == 1 || (k > 0 && s >= ns)) ADD(ids[0]);
            free(ids);
        }
    }
#undef ADD
    qsort(out, (size_t)n, sizeof(int), cmp_int);
    int m = 0;
    for (int i = 0; i < n; i++) if (!m || out[m - 1] != out[i]) out[m++] = out[i];
    return m;
}

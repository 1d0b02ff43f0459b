/* oracle.h — bin/transcribe's teacher-forcing oracle mode (used by the tests and outside
 * checks):
 *   transcribe --model M (--mel F.f32 | AUDIO) --prompt "IDS" --force "IDS" --dump-logits OUT.f32
 * writes rows of n_vocab float32: row 0 = logits after the prompt, row k = after the k-th
 * forced token. --mel takes f32 [n_mels][3000] row-major. */
#ifndef SS_ORACLE_H
#define SS_ORACLE_H
int transcribe_oracle_main(int argc, char **argv);
#endif

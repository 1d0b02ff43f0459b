#!/usr/bin/env python3
"""Rewrites a CTranslate2 Whisper directory as a Transformers checkpoint (model.safetensors in
modeling_whisper.py names, q/k/v split, no k bias; config.json; vocab.json and
added_tokens.json taken from the directory's tokenizer.json), to run the safetensors reader on
real weights and a real Hugging Face vocabulary. Written with numpy, not by Transformers.

  ct2_to_hf.py CT2_DIR OUT_DIR        (needs numpy: scripts/check-reference.sh's venv)"""
import json, re, struct, sys, numpy as np
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from ct2_read import read_model
src, dst = sys.argv[1], sys.argv[2]
__import__('os').makedirs(dst, exist_ok=True)   # OUT_DIR need not exist yet
v = read_model(src + '/model.bin')
out = {}
def put(n, a): out[n] = np.ascontiguousarray(a)
n = v['encoder/conv1/weight'].shape[0]
put('model.encoder.conv1.weight', v['encoder/conv1/weight']); put('model.encoder.conv1.bias', v['encoder/conv1/bias'])
put('model.encoder.conv2.weight', v['encoder/conv2/weight']); put('model.encoder.conv2.bias', v['encoder/conv2/bias'])
put('model.encoder.embed_positions.weight', v['encoder/position_encodings/encodings'])
put('model.encoder.layer_norm.weight', v['encoder/layer_norm/gamma']); put('model.encoder.layer_norm.bias', v['encoder/layer_norm/beta'])
put('model.decoder.embed_tokens.weight', v['decoder/embeddings/weight'])
put('model.decoder.embed_positions.weight', v['decoder/position_encodings/encodings'])
put('model.decoder.layer_norm.weight', v['decoder/layer_norm/gamma']); put('model.decoder.layer_norm.bias', v['decoder/layer_norm/beta'])
def ln(hf, ct): put(hf + '.weight', v[ct + '/gamma']); put(hf + '.bias', v[ct + '/beta'])
for side in ('encoder', 'decoder'):
    L = len({k.split('/')[1] for k in v if re.match(side + r'/layer_\d+/', k)})
    for i in range(L):
        c, h = f'{side}/layer_{i}', f'model.{side}.layers.{i}'
        w, b = v[c + '/self_attention/linear_0/weight'], v[c + '/self_attention/linear_0/bias']
        for j, p in enumerate(('q', 'k', 'v')):
            put(f'{h}.self_attn.{p}_proj.weight', w[j*n:(j+1)*n])
            if p != 'k': put(f'{h}.self_attn.{p}_proj.bias', b[j*n:(j+1)*n])
        put(f'{h}.self_attn.out_proj.weight', v[c + '/self_attention/linear_1/weight']); put(f'{h}.self_attn.out_proj.bias', v[c + '/self_attention/linear_1/bias'])
        ln(f'{h}.self_attn_layer_norm', c + '/self_attention/layer_norm')
        if side == 'decoder':
            put(f'{h}.encoder_attn.q_proj.weight', v[c + '/attention/linear_0/weight']); put(f'{h}.encoder_attn.q_proj.bias', v[c + '/attention/linear_0/bias'])
            kv, kvb = v[c + '/attention/linear_1/weight'], v[c + '/attention/linear_1/bias']
            put(f'{h}.encoder_attn.k_proj.weight', kv[:n]); put(f'{h}.encoder_attn.v_proj.weight', kv[n:]); put(f'{h}.encoder_attn.v_proj.bias', kvb[n:])
            put(f'{h}.encoder_attn.out_proj.weight', v[c + '/attention/linear_2/weight']); put(f'{h}.encoder_attn.out_proj.bias', v[c + '/attention/linear_2/bias'])
            ln(f'{h}.encoder_attn_layer_norm', c + '/attention/layer_norm')
        put(f'{h}.fc1.weight', v[c + '/ffn/linear_0/weight']); put(f'{h}.fc1.bias', v[c + '/ffn/linear_0/bias'])
        put(f'{h}.fc2.weight', v[c + '/ffn/linear_1/weight']); put(f'{h}.fc2.bias', v[c + '/ffn/linear_1/bias'])
        ln(f'{h}.final_layer_norm', c + '/ffn/layer_norm')
hdr, data = {}, b''
for k, a in out.items():
    hdr[k] = {'dtype': {'float16': 'F16', 'float32': 'F32'}[str(a.dtype)], 'shape': list(a.shape), 'data_offsets': [len(data), len(data) + a.nbytes]}
    data += a.tobytes()
hdr['__metadata__'] = {'format': 'pt'}
h = json.dumps(hdr).encode()
open(dst + '/model.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + data)
tok = json.load(open(src + '/tokenizer.json'))
json.dump(tok['model']['vocab'], open(dst + '/vocab.json', 'w'))
json.dump({t['content']: t['id'] for t in tok['added_tokens']}, open(dst + '/added_tokens.json', 'w'))
L_e = len({k.split('/')[1] for k in v if re.match(r'encoder/layer_\d+/', k)}); L_d = len({k.split('/')[1] for k in v if re.match(r'decoder/layer_\d+/', k)})
json.dump({'model_type': 'whisper', 'd_model': n, 'encoder_layers': L_e, 'decoder_layers': L_d, 'encoder_attention_heads': int(v['encoder/num_heads']),
           'decoder_attention_heads': int(v['decoder/num_heads']), 'num_mel_bins': v['encoder/conv1/weight'].shape[1], 'max_source_positions': 1500,
           'max_target_positions': 448, 'vocab_size': v['decoder/embeddings/weight'].shape[0]}, open(dst + '/config.json', 'w'))

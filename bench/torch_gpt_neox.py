"""GPT-NeoX in plain PyTorch: the architecture of Hugging Face's GPTNeoXForCausalLM as a
torch.nn.Module tree whose named_modules() are HF's names, so that register_forward_hook
works on it exactly as in the blog post. It exists because this machine has PyTorch
(Debian's python3-torch) but no transformers, and bench/hf_hooks_baseline.py needs a Python
forward-hook baseline; tests/e2e/test_torch_baseline_parity.py checks it against what HF
transformers recorded (../shared/golden/gptneox-tiny.h5).

  model = GPTNeoXForCausalLM.from_pretrained("path/to/hf_dir")   # config.json + model.safetensors
  logits, past = model(input_ids)                                 # [B, T, V], per-layer (k, v)
  ids = model.generate(input_ids, max_new_tokens=14)              # greedy, with the KV cache

Module names follow transformers 4.x (the output head is `embed_out`, as in the safetensors
file; transformers 5 calls the same module `lm_head`). The dropout modules and rotary_emb of
current transformers are here too (dropouts are identities in eval), so that a hook sees the
same module calls, and pays the same per-call Python cost, as on HF's model.
"""
import json
import math
import os
import struct

import torch
from torch import nn

# safetensors dtype names -> torch dtypes (the ones HF checkpoints use)
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}


def read_safetensors(path):
    """name -> tensor. The format: 8-byte little-endian header length, a JSON header
    {name: {dtype, shape, data_offsets: [begin, end]}} (offsets relative to the data), the data."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(f.read())  # writable: torch.frombuffer warns on read-only buffers
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        numel = math.prod(info["shape"])
        itemsize = torch.empty((), dtype=dtype).element_size()
        if end - begin != numel * itemsize or end > len(data):
            raise ValueError(f"{path}: tensor {name}: {end - begin} bytes at {begin}, expected {numel * itemsize} "
                             f"for shape {info['shape']} {info['dtype']} (data is {len(data)} bytes)")
        t = torch.frombuffer(data, dtype=dtype, count=numel, offset=begin) if numel else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    return out


def _activation(name):
    # HF's ACT2FN entries that GPT-NeoX checkpoints use ("gelu" is the exact erf GELU)
    acts = {"gelu": lambda: nn.GELU(), "gelu_new": lambda: nn.GELU(approximate="tanh"),
            "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"), "relu": nn.ReLU, "silu": nn.SiLU}
    if name not in acts:
        raise ValueError(f"hidden_act {name!r} not supported (have {sorted(acts)})")
    return acts[name]()


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _apply_rotary(x, cos, sin, ndims):
    """Rotary on the first `ndims` of each head's dims (rotary_pct), the rest passes through.
    x: [B, H, T, head_size]; cos, sin: [B, T, ndims]."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    x_rot, x_pass = x[..., :ndims], x[..., ndims:]
    return torch.cat((x_rot * cos + _rotate_half(x_rot) * sin, x_pass), dim=-1)


class GPTNeoXRotaryEmbedding(nn.Module):
    """cos and sin of the rotary angles for given positions (HF computes them once per forward
    in the model and passes them to every layer; so does this)."""

    def __init__(self, ndims, base):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, ndims, 2, dtype=torch.int64).float() / ndims))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x, position_ids):
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


class GPTNeoXAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, bias = cfg["hidden_size"], cfg["attention_bias"]
        self.num_heads = cfg["num_attention_heads"]
        self.head_size = d // self.num_heads
        self.rotary_ndims = int(self.head_size * cfg["rotary_pct"])
        self.query_key_value = nn.Linear(d, 3 * d, bias=bias)
        self.dense = nn.Linear(d, d, bias=bias)

    def forward(self, hidden, cos, sin, past=None):
        b, t, d = hidden.shape
        # HF's fused layout is per head: [q_h | k_h | v_h] for head h, not [all q | all k | all v]
        qkv = self.query_key_value(hidden).view(b, t, self.num_heads, 3 * self.head_size).transpose(1, 2)
        q, k, v = qkv.split(self.head_size, dim=-1)
        q = _apply_rotary(q, cos, sin, self.rotary_ndims)
        k = _apply_rotary(k, cos, sin, self.rotary_ndims)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.head_size ** -0.5
        s = k.shape[2]
        if t > 1:  # causal: query i (absolute position s - t + i) sees keys up to its own position
            mask = torch.ones(t, s, dtype=torch.bool, device=hidden.device).triu(s - t + 1)
            scores = scores.masked_fill(mask, torch.finfo(scores.dtype).min)
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, d)
        return self.dense(out), (k, v)


class GPTNeoXMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(cfg["hidden_size"], cfg["intermediate_size"])
        self.dense_4h_to_h = nn.Linear(cfg["intermediate_size"], cfg["hidden_size"])
        self.act = _activation(cfg["hidden_act"])

    def forward(self, x):
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


class GPTNeoXLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.use_parallel_residual = cfg["use_parallel_residual"]
        self.input_layernorm = nn.LayerNorm(d, eps=eps)
        self.post_attention_layernorm = nn.LayerNorm(d, eps=eps)
        self.post_attention_dropout = nn.Dropout(cfg["hidden_dropout"])
        self.post_mlp_dropout = nn.Dropout(cfg["hidden_dropout"])
        self.attention = GPTNeoXAttention(cfg)
        self.mlp = GPTNeoXMLP(cfg)

    def forward(self, hidden, cos, sin, past=None):
        attn, present = self.attention(self.input_layernorm(hidden), cos, sin, past)
        attn = self.post_attention_dropout(attn)
        if self.use_parallel_residual:  # x + attn(ln1(x)) + mlp(ln2(x))
            mlp = self.post_mlp_dropout(self.mlp(self.post_attention_layernorm(hidden)))
            out = mlp + attn + hidden
        else:  # h = x + attn(ln1(x)); h + mlp(ln2(h))
            attn = attn + hidden
            out = self.post_mlp_dropout(self.mlp(self.post_attention_layernorm(attn))) + attn
        return out, present


class GPTNeoXModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.embed_in = nn.Embedding(cfg["vocab_size"], d)
        self.emb_dropout = nn.Dropout(cfg["hidden_dropout"])
        self.layers = nn.ModuleList(GPTNeoXLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.final_layer_norm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])
        head_size = d // cfg["num_attention_heads"]
        self.rotary_emb = GPTNeoXRotaryEmbedding(int(head_size * cfg["rotary_pct"]), cfg["rotary_emb_base"])

    def forward(self, input_ids, past=None):
        b, t = input_ids.shape
        start = past[0][0].shape[2] if past else 0
        positions = torch.arange(start, start + t, device=input_ids.device).expand(b, t)
        hidden = self.emb_dropout(self.embed_in(input_ids))
        cos, sin = self.rotary_emb(hidden, positions)
        presents = []
        for i, layer in enumerate(self.layers):
            hidden, kv = layer(hidden, cos, sin, past[i] if past else None)
            presents.append(kv)
        return self.final_layer_norm(hidden), presents


def read_config(path):
    """config.json with the defaults of transformers' GPTNeoXConfig; accepts both the 4.x keys
    (rotary_pct, rotary_emb_base) and 5.x's rope_parameters."""
    with open(path) as f:
        raw = json.load(f)
    if raw.get("model_type", "gpt_neox") != "gpt_neox":
        raise ValueError(f"{path}: model_type {raw.get('model_type')!r}, expected 'gpt_neox'")
    rope = raw.get("rope_parameters") or {}
    cfg = {
        "rotary_pct": raw.get("rotary_pct", rope.get("partial_rotary_factor", 0.25)),
        "rotary_emb_base": raw.get("rotary_emb_base", rope.get("rope_theta", 10000.0)),
        "layer_norm_eps": raw.get("layer_norm_eps", 1e-5),
        "hidden_act": raw.get("hidden_act", "gelu"),
        "use_parallel_residual": raw.get("use_parallel_residual", True),
        "attention_bias": raw.get("attention_bias", True),
        "hidden_dropout": raw.get("hidden_dropout", 0.0),
        "eos_token_id": raw.get("eos_token_id"),
    }
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
        if key not in raw:
            raise ValueError(f"{path}: missing {key}")
        cfg[key] = raw[key]
    return cfg


class GPTNeoXForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.gpt_neox = GPTNeoXModel(cfg)
        self.embed_out = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)  # untied from embed_in

    @classmethod
    def from_pretrained(cls, model_dir, dtype=torch.float32):
        """An HF model directory (config.json, model.safetensors); weights cast to `dtype`."""
        cfg = read_config(os.path.join(model_dir, "config.json"))
        model = cls(cfg)
        weights = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        # strict: every parameter must be in the file and every tensor of the file used
        model.load_state_dict({k: v.to(dtype) for k, v in weights.items()}, strict=True)
        return model.to(dtype).eval()

    def forward(self, input_ids, past=None, last_only=False):
        """logits [B, T, V] (or [B, 1, V] for the last position only, as HF's logits_to_keep=1)
        and the KV cache: per layer (k, v), each [B, heads, positions so far, head_size]."""
        hidden, presents = self.gpt_neox(input_ids, past)
        if last_only:
            hidden = hidden[:, -1:]
        return self.embed_out(hidden), presents

    @torch.inference_mode()
    def generate(self, input_ids, max_new_tokens, min_new_tokens=0, eos_token_id=None):
        """Greedy decoding as HF generate(do_sample=False): one forward of the prompt, then one
        of each new token with the cache (max_new_tokens forwards in all). eos_token_id
        is never chosen before min_new_tokens; generation stops once every row has emitted it
        (finished rows are padded with it)."""
        ids, x, past = input_ids, input_ids, None
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for step in range(max_new_tokens):
            logits, past = self(x, past, last_only=True)
            logits = logits[:, -1]
            if eos_token_id is not None and step < min_new_tokens:
                logits[:, eos_token_id] = -math.inf
            nxt = logits.argmax(dim=-1)
            if eos_token_id is not None:
                nxt = torch.where(done, torch.full_like(nxt, eos_token_id), nxt)
                done |= nxt == eos_token_id
            ids = torch.cat((ids, nxt[:, None]), dim=1)
            x = nxt[:, None]
            if eos_token_id is not None and bool(done.all()):
                break
        return ids

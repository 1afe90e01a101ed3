#!/usr/bin/env python3
"""Tiny random Hugging Face checkpoints of every architecture kt supports, with reference
outputs computed by transformers itself (float64, eager attention).

Run on a machine with torch + transformers (the GPU box has both; no GPU is needed):
    python3 scripts/gen_hf_fixtures.py OUT_DIR [--list-keys] [--only CASE[,CASE...]]
Writes OUT_DIR/<case>/{config.json, model.safetensors, tokenizer.json, reference.json} (the
tokenizer: 256 byte tokens; `--tokenizers-only` rewrites just those, without torch) with tensors
under the per-expert names checkpoints use on the Hub. reference.json holds, for a fixed token sequence,
the log-probabilities of every vocabulary entry at every position (float32, base64) and the
greedy continuation of a fixed prompt. Fixed seeds: the output is reproducible.
"""
import base64
import json
import os
import re
import sys

try:  # absent where only --tokenizers-only runs
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM
except ImportError:
    torch = None

V = 256  # vocabulary of every fixture
COMMON = dict(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
              max_position_embeddings=512, rms_norm_eps=1e-5, tie_word_embeddings=False)

CASES = {
    "llama": ("llama", dict(intermediate_size=96, num_key_value_heads=2, rope_theta=10000.0)),
    "mistral": ("mistral", dict(intermediate_size=96, num_key_value_heads=2, sliding_window=None,
                                rope_theta=1e6)),
    "mixtral": ("mixtral", dict(intermediate_size=48, num_key_value_heads=2, num_local_experts=4,
                                num_experts_per_tok=2, sliding_window=None)),
    "qwen2": ("qwen2", dict(intermediate_size=96, num_key_value_heads=2, tie_word_embeddings=True,
                            rope_theta=1e6)),
    "qwen2moe": ("qwen2_moe", dict(intermediate_size=96, num_key_value_heads=2, num_experts=8,
                                   num_experts_per_tok=2, moe_intermediate_size=32,
                                   shared_expert_intermediate_size=48, norm_topk_prob=False,
                                   decoder_sparse_step=1, mlp_only_layers=[])),
    "qwen3moe": ("qwen3_moe", dict(intermediate_size=96, num_key_value_heads=2, head_dim=24,
                                   num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
                                   norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[])),
    # DeepSeek-V2-Lite shape: no q-LoRA, softmax greedy routing, one leading dense layer, YaRN.
    "deepseek2lite": ("deepseek_v2", dict(num_hidden_layers=3, intermediate_size=96,
                                          num_key_value_heads=4, q_lora_rank=None, kv_lora_rank=32,
                                          qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                                          n_routed_experts=8, n_shared_experts=2,
                                          num_experts_per_tok=2, moe_intermediate_size=32,
                                          first_k_dense_replace=1, topk_method="greedy",
                                          n_group=1, topk_group=1, routed_scaling_factor=1.0,
                                          norm_topk_prob=False,
                                          rope_scaling={"type": "yarn", "factor": 4.0,
                                                        "original_max_position_embeddings": 128,
                                                        "beta_fast": 32, "beta_slow": 1,
                                                        "mscale": 0.707, "mscale_all_dim": 0.707})),
    # DeepSeek-V2 shape: q-LoRA, group-limited greedy routing with routed scaling.
    "deepseek2": ("deepseek_v2", dict(num_hidden_layers=3, intermediate_size=96,
                                      num_key_value_heads=4, q_lora_rank=24, kv_lora_rank=32,
                                      qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                                      n_routed_experts=8, n_shared_experts=1,
                                      num_experts_per_tok=2, moe_intermediate_size=32,
                                      first_k_dense_replace=1, topk_method="group_limited_greedy",
                                      n_group=4, topk_group=2, routed_scaling_factor=2.0,
                                      norm_topk_prob=False)),
    # DeepSeek-V3/R1 shape: sigmoid scores with correction bias, group top-k, renormalised.
    "deepseek3": ("deepseek_v3", dict(num_hidden_layers=3, intermediate_size=96,
                                      num_key_value_heads=4, q_lora_rank=24, kv_lora_rank=32,
                                      qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                                      n_routed_experts=8, n_shared_experts=1,
                                      num_experts_per_tok=2, moe_intermediate_size=32,
                                      first_k_dense_replace=1, n_group=4, topk_group=2,
                                      routed_scaling_factor=2.5, norm_topk_prob=True,
                                      rope_scaling={"type": "yarn", "factor": 4.0,
                                                    "original_max_position_embeddings": 128,
                                                    "beta_fast": 32, "beta_slow": 1,
                                                    "mscale": 1.0, "mscale_all_dim": 1.0})),
    # Gemma 3 text: 7 layers (5 sliding, 1 global, 1 sliding), a window of 4 that the 20-token
    # sequence overruns, head size 24 != 64 / 4; rope bases and the 5:1 pattern are the
    # defaults (1e6 global, 1e4 local); query_pre_attn_scalar = head size as GGUF gemma3
    # implies. Untied (the real model is tied, as is qwen2 here): a random tied model's greedy
    # path just repeats one token, since each token's embedding dominates its own logits.
    "gemma3": ("gemma3_text", dict(num_hidden_layers=7, intermediate_size=96,
                                   num_key_value_heads=2, head_dim=24, query_pre_attn_scalar=24,
                                   sliding_window=4, rms_norm_eps=1e-6)),
}

SEQUENCE_LEN = 20
PROMPT_LEN = 6
CONTINUATION = 12


def randomize(model, seed, model_type=""):
    """Weights big enough that logits are far from uniform and routing is decisive."""
    g = torch.Generator().manual_seed(seed)
    # Gemma scales embeddings by sqrt(hidden) and its norms multiply by (1 + w): smaller
    # embeddings and norm weights near 0 keep the residual stream from being the input token
    # (which made greedy decoding repeat it forever).
    gemma = model_type.startswith("gemma")
    norm_center = 0.0 if gemma else 1.0
    embed_std = 0.3 if gemma else 1.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                if "norm" in name or "layernorm" in name:
                    p.copy_(norm_center + 0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
                else:  # biases, router correction bias
                    p.copy_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
            else:
                fan_in = p.shape[-1]
                std = embed_std if "embed" in name else 1.5 / fan_in ** 0.5
                p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for name, b in model.named_buffers():
            if "e_score_correction_bias" in name:
                b.copy_(0.1 * torch.randn(b.shape, generator=g, dtype=b.dtype))


def hub_state_dict(model, model_type):
    """State dict under the names published checkpoints use (one tensor per expert)."""
    out = {}
    tied = getattr(model.config, "tie_word_embeddings", False)
    for k, t in model.state_dict().items():
        if tied and k == "lm_head.weight":
            continue  # tied checkpoints on the Hub store the embedding only
        t = t.detach().to(torch.float32).clone().contiguous()
        m = re.match(r"(.*\.experts)\.(gate_up_proj|down_proj)$", k)
        if m and t.dim() == 3:
            # Fused 3-D expert parameters of newer transformers: split per expert.
            prefix, kind = m.groups()
            mixtral = model_type == "mixtral"
            for e in range(t.shape[0]):
                w = t[e]
                if kind == "gate_up_proj":
                    # [2F, H] (out, in) or [H, 2F]: find the side that is 2x the expert width.
                    if w.shape[0] % 2 == 0 and w.shape[1] == model.config.hidden_size:
                        gate, up = w.chunk(2, dim=0)
                    else:
                        gate, up = (x.t() for x in w.chunk(2, dim=1))
                    out[f"{prefix}.{e}.{'w1' if mixtral else 'gate_proj'}.weight"] = gate.contiguous()
                    out[f"{prefix}.{e}.{'w3' if mixtral else 'up_proj'}.weight"] = up.contiguous()
                else:
                    if w.shape[0] != model.config.hidden_size:
                        w = w.t()
                    out[f"{prefix}.{e}.{'w2' if mixtral else 'down_proj'}.weight"] = w.contiguous()
            continue
        out[k] = t
    if model_type == "mixtral":  # Hub layout: block_sparse_moe.{gate,experts}
        out = {k.replace(".mlp.", ".block_sparse_moe."): v for k, v in out.items()}
    return out


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable characters (byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def write_byte_tokenizer(d):
    """A byte-level tokenizer whose 256 tokens are the 256 bytes (id = byte value, no merges):
    it lets `kt chat` and the tokenizer path run on these 256-token fixtures."""
    m = bytes_to_unicode()
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {m[b]: b for b in range(256)}, "merges": []},
    }
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)


def b64(t):
    return base64.b64encode(t.to(torch.float32).numpy().astype("<f4").tobytes()).decode()


def main():
    out_dir = sys.argv[1]
    if "--tokenizers-only" in sys.argv:  # no torch needed
        for case in os.listdir(out_dir):
            if os.path.isdir(os.path.join(out_dir, case)):
                write_byte_tokenizer(os.path.join(out_dir, case))
        return
    list_keys = "--list-keys" in sys.argv
    only = None
    if "--only" in sys.argv:
        only = set(sys.argv[sys.argv.index("--only") + 1].split(","))
        unknown = only - set(CASES)
        if unknown:
            sys.exit(f"unknown case(s) {sorted(unknown)}; known: {list(CASES)}")
    torch.manual_seed(0)
    print("transformers", transformers.__version__, "torch", torch.__version__)
    for i, (case, (model_type, extra)) in enumerate(CASES.items()):
        if only is not None and case not in only:
            continue  # the seeds stay those of the full run: they depend on i
        cfg_cls = transformers.AutoConfig.for_model(model_type).__class__
        cfg = cfg_cls(**{**COMMON, **extra})
        cfg._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        if hasattr(model, "set_experts_implementation"):
            try:  # grouped_mm refuses float64; the per-expert loop is the plain reference
                model.set_experts_implementation("eager")
            except (ValueError, AttributeError, KeyError):
                pass
        randomize(model, 1000 + i, model_type)
        model.eval()
        d = os.path.join(out_dir, case)
        os.makedirs(d, exist_ok=True)
        sd = hub_state_dict(model, model_type)
        if list_keys:
            print(case, {k: list(v.shape) for k, v in model.state_dict().items()
                         if ".layers.1." in k or "layers" not in k})
        save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        cfg_dict = cfg.to_dict()
        cfg_dict["architectures"] = [model.__class__.__name__]
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg_dict, f, indent=1, sort_keys=True, default=str)

        g = torch.Generator().manual_seed(7 + i)
        seq = torch.randint(0, V, (1, SEQUENCE_LEN), generator=g)
        m64 = model.to(torch.float64)
        with torch.no_grad():
            logits = m64(seq).logits[0]
            logprobs = torch.log_softmax(logits, dim=-1)
            prompt = seq[:, :PROMPT_LEN]
            gen = m64.generate(prompt, max_new_tokens=CONTINUATION, do_sample=False,
                               pad_token_id=0, eos_token_id=None)
        ref = {
            "case": case, "model_type": model_type, "vocab": V,
            "transformers": transformers.__version__,
            "tokens": seq[0].tolist(),
            "logprobs_f32_b64": b64(logprobs),
            "prompt": prompt[0].tolist(),
            "greedy": gen[0, PROMPT_LEN:].tolist(),
            "logit_std": float(logits.std()),
        }
        write_byte_tokenizer(d)
        with open(os.path.join(d, "reference.json"), "w") as f:
            json.dump(ref, f, indent=1)
        print(f"{case}: {sum(v.numel() for v in sd.values())} params, logit std "
              f"{ref['logit_std']:.2f}, greedy {ref['greedy']}")


if __name__ == "__main__":
    main()

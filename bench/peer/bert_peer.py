"""The PyTorch-eager peer of FineTune.NET's e2e-sst2 benchmark.

A BERT sequence classifier written in plain torch (the same computation as Hugging Face's BertForSequenceClassification
with eager attention), loaded from the same model.safetensors, fine-tuned with Hugging Face Trainer's default recipe:
random batches padded to the longest in the batch (no length grouping), AdamW with weight decay on all weights except
biases and LayerNorm weights, linear decay without warmup, gradient clipping at 1.0, optional bf16 autocast, and
evaluated on a dev set. It reads examples already tokenized by FineTune.NET (JSON lines: {"ids": [...], "label": n}),
so both sides train on the same token ids. Prints progress, then one JSON object as the last line.

Runs on Debian's python3-torch; needs nothing else (no transformers, no safetensors, no numpy).
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- weights ---------------------------------------------------------------------------------------------------------

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def load_safetensors(path):
    """Reads a .safetensors file: an 8-byte little-endian header length, a JSON header, then the raw tensors."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    buffer = bytearray(data)
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES[info["dtype"]]
        start, end = info["data_offsets"]
        count = (end - start) // torch.tensor([], dtype=dtype).element_size()
        t = torch.frombuffer(buffer, dtype=dtype, count=count, offset=base + start) if count > 0 else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors


# ---- model (names equal Hugging Face's checkpoint keys) ---------------------------------------------------------------

class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c.get("pad_token_id", 0))
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids, types):
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings(types)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.head_size = h // self.heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, bias):
        b, t, _ = x.shape

        def split(y):  # [B, T, H] -> [B, N, T, D]
            return y.view(b, t, self.heads, self.head_size).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + bias
        probs = self.dropout(F.softmax(scores, dim=-1))
        context = torch.matmul(probs, v)
        return context.transpose(1, 2).reshape(b, t, self.heads * self.head_size)


class SelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = SelfOutput(c)

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))


class Output(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = Output(c)

    def forward(self, x, bias):
        a = self.attention(x, bias)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)

    def forward(self, ids, mask, types):
        x = self.embeddings(ids, types)
        # Hugging Face's extended attention mask: in the parameters' dtype, 0 for tokens, the dtype's minimum for padding.
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        return self.pooler(self.encoder(x, bias))


class BertForSequenceClassification(nn.Module):
    def __init__(self, c, labels):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c.get("classifier_dropout") or c["hidden_dropout_prob"])
        self.classifier = nn.Linear(c["hidden_size"], labels)
        nn.init.normal_(self.classifier.weight, std=c.get("initializer_range", 0.02))
        nn.init.zeros_(self.classifier.bias)

    def forward(self, ids, mask, types):
        return self.classifier(self.dropout(self.bert(ids, mask, types)))


# ---- data ------------------------------------------------------------------------------------------------------------

def read_examples(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def collate(examples, pad_id=0):
    """Hugging Face's DataCollatorWithPadding: pad to the longest in the batch."""
    t = max(len(e["ids"]) for e in examples)
    ids = torch.full((len(examples), t), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), t), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["ids"])
        ids[i, :n] = torch.tensor(e["ids"], dtype=torch.long)
        mask[i, :n] = 1
    labels = torch.tensor([e["label"] for e in examples], dtype=torch.long)
    return ids, mask, torch.zeros_like(ids), labels


def autocast(precision):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def evaluate(model, examples, batch_size, precision):
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            ids, mask, types, labels = collate(chunk)
            with autocast(precision):
                logits = model(ids, mask, types)
            correct += (logits.float().argmax(-1) == labels).sum().item()
    model.train()
    return correct / len(examples)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, help="a Hugging Face folder: config.json, model.safetensors")
    p.add_argument("--train", required=True, help="tokenized training examples (JSON lines)")
    p.add_argument("--dev", required=True, help="tokenized dev examples (JSON lines)")
    p.add_argument("--labels", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup-ratio", type=float, default=0.0, help="fraction of the steps with a linear warmup")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (timing runs)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(os.path.join(a.model, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    model = BertForSequenceClassification(config, a.labels)
    weights = load_safetensors(os.path.join(a.model, "model.safetensors"))
    own = model.state_dict()
    loaded = {k: v for k, v in (("bert." + k if not k.startswith("bert.") else k, v) for k, v in weights.items()) if k in own}
    missing = model.load_state_dict(loaded, strict=False).missing_keys
    unexpected = [k for k in missing if not k.startswith("classifier.")]
    if unexpected:
        sys.exit(f"weights missing from {a.model}: {unexpected}")

    train = read_examples(a.train)
    dev = read_examples(a.dev)
    steps_per_epoch = math.ceil(len(train) / a.batch_size)
    total_steps = steps_per_epoch * a.epochs if a.max_steps <= 0 else a.max_steps

    # Hugging Face Trainer: no weight decay for biases and LayerNorm weights; linear decay to 0, no warmup.
    decay = [p_ for n, p_ in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p_ for n, p_ in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    warmup = math.ceil(a.warmup_ratio * total_steps)

    def multiplier(s):
        # Hugging Face's linear schedule: up from 0 over the warmup, then down to 0 at the last step.
        if s < warmup:
            return s / max(1, warmup)
        return max(0.0, (total_steps - s) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)

    model.train()
    generator = torch.Generator().manual_seed(a.seed)
    step = 0
    examples_seen = 0
    tokens = 0
    padded_tokens = 0
    start = time.perf_counter()
    done = False
    for epoch in range(a.epochs):
        order = torch.randperm(len(train), generator=generator).tolist()  # RandomSampler
        for b in range(0, len(order), a.batch_size):
            batch = [train[i] for i in order[b:b + a.batch_size]]
            ids, mask, types, labels = collate(batch)
            with autocast(a.precision):
                logits = model(ids, mask, types)
            loss = F.cross_entropy(logits.float(), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            examples_seen += len(batch)
            tokens += int(mask.sum())
            padded_tokens += ids.numel()
            if step % 50 == 0 or step == total_steps:
                elapsed = time.perf_counter() - start
                print(f"step {step}/{total_steps} loss {loss.item():.4f} {examples_seen / elapsed:.1f} examples/s", flush=True)
            if step >= total_steps:
                done = True
                break
        if done:
            break
    train_seconds = time.perf_counter() - start
    eval_start = time.perf_counter()
    accuracy = evaluate(model, dev, a.eval_batch_size, a.precision)
    eval_seconds = time.perf_counter() - eval_start
    print(json.dumps({
        "torch_version": torch.__version__,
        "blas": os.environ.get("FINETUNE_PEER_BLAS", "unknown"),
        "threads": torch.get_num_threads(),
        "precision": a.precision,
        "examples": examples_seen,
        "steps": step,
        "train_seconds": train_seconds,
        "examples_per_second": examples_seen / train_seconds,
        "padding_fraction": 1 - tokens / max(1, padded_tokens),
        "accuracy": accuracy,
        "eval_seconds": eval_seconds,
    }))


if __name__ == "__main__":
    main()

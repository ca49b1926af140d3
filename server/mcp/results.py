"""What an MCP tool's answer becomes for the model: its text, its structured content as JSON (when the text does
not already carry it), a short note for each image, audio clip or resource (the model gets words, not bytes), and
`isError` as a tool error."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types


def _note(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        kind = "image" if isinstance(block, types.ImageContent) else "audio"
        size = len(block.data) * 3 // 4 - block.data[-2:].count("=")  # base64
        return f"[{kind}: {block.mime_type}, about {size} bytes, not shown]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link: {block.uri}{f' ({block.name})' if block.name else ''}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        mime = f", {resource.mime_type}" if resource.mime_type else ""
        return f"[resource: {resource.uri}{mime}, not shown]"
    return f"[{getattr(block, 'type', 'unknown')} content, not shown]"


def _carried(structured: dict[str, Any], texts: list[str]) -> bool:
    """Whether a text block already says what the structured content says: its JSON, or (SDKs wrap a plain return
    value as {"result": value}) the value itself."""
    wrapped = structured.get("result") if list(structured) == ["result"] else None
    for text in texts:
        if wrapped is not None and text == (wrapped if isinstance(wrapped, str) else json.dumps(wrapped)):
            return True
        try:
            if json.loads(text) == structured:
                return True
        except ValueError:
            continue
    return False


def render(result: types.CallToolResult) -> tuple[str, bool]:
    """(text for the model, whether the server flagged it as an error)."""
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    parts = [_note(block) for block in result.content]
    structured = result.structured_content
    if structured is not None and not _carried(structured, texts):
        parts.append(json.dumps(structured, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(part for part in parts if part), bool(result.is_error)

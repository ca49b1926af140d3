"""A workspace row as the contract's message (common_pb2.Workspace)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

from astra.v1 import common_pb2
from server.timestamps import to_timestamp


def _list_value(values: list[str] | None) -> struct_pb2.ListValue | None:
    if values is None:
        return None
    lv = struct_pb2.ListValue()
    lv.extend(values)
    return lv


def workspace_message(row: dict[str, Any]) -> common_pb2.Workspace:
    return common_pb2.Workspace(
        id=row["id"],
        name=row["name"],
        plan=row["plan"],
        role=row.get("role") or "",
        personal=row["personal"],
        settings=json_format.ParseDict(
            row["settings"] or {}, common_pb2.WorkspaceSettings(), ignore_unknown_fields=True
        ),
        restrictions=common_pb2.WorkspaceRestrictions(
            allowed_providers=_list_value(row["allowed_providers"]),
            allowed_models=_list_value(row["allowed_models"]),
        )
        if row["allowed_providers"] is not None or row["allowed_models"] is not None
        else None,
        member_count=row["member_count"],
        created_at=to_timestamp(row["created_at"]),
        updated_at=to_timestamp(row["updated_at"]),
    )

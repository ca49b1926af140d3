import datetime

from astra.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DailyEntry(_message.Message):
    __slots__ = ("index", "timestamp", "category", "content", "weight", "session_id")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    index: int
    timestamp: _timestamp_pb2.Timestamp
    category: str
    content: str
    weight: float
    session_id: str
    def __init__(self, index: _Optional[int] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., category: _Optional[str] = ..., content: _Optional[str] = ..., weight: _Optional[float] = ..., session_id: _Optional[str] = ...) -> None: ...

class DailyMemory(_message.Message):
    __slots__ = ("date", "entries")
    DATE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    date: str
    entries: _containers.RepeatedCompositeFieldContainer[DailyEntry]
    def __init__(self, date: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[DailyEntry, _Mapping]]] = ...) -> None: ...

class Note(_message.Message):
    __slots__ = ("index", "content", "created_at")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    index: int
    content: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, index: _Optional[int] = ..., content: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SearchMemoryRequest(_message.Message):
    __slots__ = ("q", "tiers", "limit")
    Q_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    q: str
    tiers: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    def __init__(self, q: _Optional[str] = ..., tiers: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ...) -> None: ...

class MemorySearchHit(_message.Message):
    __slots__ = ("tier", "source_id", "content", "score", "created_at")
    TIER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    tier: str
    source_id: str
    content: str
    score: float
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, tier: _Optional[str] = ..., source_id: _Optional[str] = ..., content: _Optional[str] = ..., score: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SearchMemoryResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[MemorySearchHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[MemorySearchHit, _Mapping]]] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetProfileResponse(_message.Message):
    __slots__ = ("profile", "notes", "updated_at")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    profile: _struct_pb2.Struct
    notes: _containers.RepeatedCompositeFieldContainer[Note]
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., notes: _Optional[_Iterable[_Union[Note, _Mapping]]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: _struct_pb2.Struct
    def __init__(self, profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class UpdateProfileResponse(_message.Message):
    __slots__ = ("profile", "updated_at")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    profile: _struct_pb2.Struct
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, profile: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDailyMemoryRequest(_message.Message):
    __slots__ = ("days", "limit", "page_token", "category")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    days: int
    limit: int
    page_token: str
    category: str
    def __init__(self, days: _Optional[int] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ..., category: _Optional[str] = ...) -> None: ...

class ListDailyMemoryResponse(_message.Message):
    __slots__ = ("days", "next_page_token")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DailyMemory]
    next_page_token: str
    def __init__(self, days: _Optional[_Iterable[_Union[DailyMemory, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetDailyMemoryRequest(_message.Message):
    __slots__ = ("date",)
    DATE_FIELD_NUMBER: _ClassVar[int]
    date: str
    def __init__(self, date: _Optional[str] = ...) -> None: ...

class GetDailyMemoryResponse(_message.Message):
    __slots__ = ("day",)
    DAY_FIELD_NUMBER: _ClassVar[int]
    day: DailyMemory
    def __init__(self, day: _Optional[_Union[DailyMemory, _Mapping]] = ...) -> None: ...

class DeleteDailyEntryRequest(_message.Message):
    __slots__ = ("date", "entry_index")
    DATE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_INDEX_FIELD_NUMBER: _ClassVar[int]
    date: str
    entry_index: int
    def __init__(self, date: _Optional[str] = ..., entry_index: _Optional[int] = ...) -> None: ...

class DeleteDailyEntryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AddNoteRequest(_message.Message):
    __slots__ = ("content",)
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: str
    def __init__(self, content: _Optional[str] = ...) -> None: ...

class AddNoteResponse(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: Note
    def __init__(self, note: _Optional[_Union[Note, _Mapping]] = ...) -> None: ...

class DeleteNoteRequest(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: int
    def __init__(self, index: _Optional[int] = ...) -> None: ...

class DeleteNoteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

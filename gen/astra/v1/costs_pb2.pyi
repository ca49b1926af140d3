from astra.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CostBucket(_message.Message):
    __slots__ = ("key", "cost_usd", "prompt_tokens", "completion_tokens", "requests")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    key: str
    cost_usd: float
    prompt_tokens: int
    completion_tokens: int
    requests: int
    def __init__(self, key: _Optional[str] = ..., cost_usd: _Optional[float] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., requests: _Optional[int] = ...) -> None: ...

class GetCostSummaryRequest(_message.Message):
    __slots__ = ("months",)
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    months: int
    def __init__(self, months: _Optional[int] = ...) -> None: ...

class GetCostSummaryResponse(_message.Message):
    __slots__ = ("currency", "total_usd", "month_to_date_usd", "by_agent", "by_provider", "by_month", "by_api_key")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_USD_FIELD_NUMBER: _ClassVar[int]
    MONTH_TO_DATE_USD_FIELD_NUMBER: _ClassVar[int]
    BY_AGENT_FIELD_NUMBER: _ClassVar[int]
    BY_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BY_MONTH_FIELD_NUMBER: _ClassVar[int]
    BY_API_KEY_FIELD_NUMBER: _ClassVar[int]
    currency: str
    total_usd: float
    month_to_date_usd: float
    by_agent: _containers.RepeatedCompositeFieldContainer[CostBucket]
    by_provider: _containers.RepeatedCompositeFieldContainer[CostBucket]
    by_month: _containers.RepeatedCompositeFieldContainer[CostBucket]
    by_api_key: _containers.RepeatedCompositeFieldContainer[CostBucket]
    def __init__(self, currency: _Optional[str] = ..., total_usd: _Optional[float] = ..., month_to_date_usd: _Optional[float] = ..., by_agent: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ..., by_provider: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ..., by_month: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ..., by_api_key: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ...) -> None: ...

class GetCostBreakdownRequest(_message.Message):
    __slots__ = ("start_date", "end_date", "agent_id", "api_key_id")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    agent_id: str
    api_key_id: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., agent_id: _Optional[str] = ..., api_key_id: _Optional[str] = ...) -> None: ...

class GetCostBreakdownResponse(_message.Message):
    __slots__ = ("start_date", "end_date", "currency", "total_usd", "by_agent", "by_provider", "by_model", "by_tool", "by_day", "by_api_key")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_USD_FIELD_NUMBER: _ClassVar[int]
    BY_AGENT_FIELD_NUMBER: _ClassVar[int]
    BY_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BY_MODEL_FIELD_NUMBER: _ClassVar[int]
    BY_TOOL_FIELD_NUMBER: _ClassVar[int]
    BY_DAY_FIELD_NUMBER: _ClassVar[int]
    BY_API_KEY_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    currency: str
    total_usd: float
    by_agent: _containers.RepeatedCompositeFieldContainer[CostBucket]
    by_provider: _containers.RepeatedCompositeFieldContainer[CostBucket]
    by_model: _containers.RepeatedCompositeFieldContainer[CostBucket]
    by_tool: _containers.RepeatedCompositeFieldContainer[CostBucket]
    by_day: _containers.RepeatedCompositeFieldContainer[CostBucket]
    by_api_key: _containers.RepeatedCompositeFieldContainer[CostBucket]
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., currency: _Optional[str] = ..., total_usd: _Optional[float] = ..., by_agent: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ..., by_provider: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ..., by_model: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ..., by_tool: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ..., by_day: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ..., by_api_key: _Optional[_Iterable[_Union[CostBucket, _Mapping]]] = ...) -> None: ...

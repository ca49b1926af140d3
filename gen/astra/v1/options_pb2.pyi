from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class AuthLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTH_LEVEL_UNSPECIFIED: _ClassVar[AuthLevel]
    AUTH_LEVEL_JWT: _ClassVar[AuthLevel]
    AUTH_LEVEL_NONE: _ClassVar[AuthLevel]
    AUTH_LEVEL_API_KEY: _ClassVar[AuthLevel]

class Dialect(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIALECT_UNSPECIFIED: _ClassVar[Dialect]
    DIALECT_OPENAI: _ClassVar[Dialect]
AUTH_LEVEL_UNSPECIFIED: AuthLevel
AUTH_LEVEL_JWT: AuthLevel
AUTH_LEVEL_NONE: AuthLevel
AUTH_LEVEL_API_KEY: AuthLevel
DIALECT_UNSPECIFIED: Dialect
DIALECT_OPENAI: Dialect
AUTH_FIELD_NUMBER: _ClassVar[int]
auth: _descriptor.FieldDescriptor
SUCCESS_STATUSES_FIELD_NUMBER: _ClassVar[int]
success_statuses: _descriptor.FieldDescriptor
DIALECT_FIELD_NUMBER: _ClassVar[int]
dialect: _descriptor.FieldDescriptor

"""MD5 digests that SQS returns for message bodies and attributes.

botocore 1.44 does not check these digests itself (unlike the Java and Go
SDKs), so the tests compute them here and compare. The attribute digest
follows the SQS Developer Guide, section "Calculating the MD5 message digest
for message attributes". The attributes are sorted by name. Each one is
encoded as its length-prefixed name, its length-prefixed data type, one
transport byte (1 for String and Number, 2 for Binary) and its
length-prefixed value. Every length is a 4-byte big-endian integer.
"""

from __future__ import annotations

import base64
import hashlib
import struct

STRING_TRANSPORT = 1
BINARY_TRANSPORT = 2


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def _length_prefixed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def md5_of_attributes(attributes: dict) -> str:
    """Return the digest of message attributes in the boto3 shape.

    Each value is a dict with DataType and StringValue or BinaryValue.
    BinaryValue may be bytes or, as in query-protocol XML, base64 text.
    """
    encoded = b""
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        encoded += _length_prefixed(name.encode("utf-8"))
        encoded += _length_prefixed(data_type.encode("utf-8"))
        if "BinaryValue" in value:
            binary = value["BinaryValue"]
            if isinstance(binary, str):
                binary = base64.b64decode(binary)
            encoded += bytes([BINARY_TRANSPORT]) + _length_prefixed(binary)
        else:
            encoded += bytes([STRING_TRANSPORT])
            encoded += _length_prefixed(value["StringValue"].encode("utf-8"))
    return hashlib.md5(encoded).hexdigest()

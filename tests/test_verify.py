"""Stream verification: the end of the stream is held back until size and hashes match."""

import hashlib
from typing import Any

import pytest

from replicator.engine.verify import StreamVerifier
from replicator.model.errors import VerificationError
from replicator.model.records import ImageRecord

DATA = bytes(range(256)) * 1000


def record(data: bytes = DATA, **overrides) -> ImageRecord:
    fields: dict[str, Any] = dict(
        id="0c43eaca-c2a8-4f79-8f2a-b265655883d3",
        status="active",
        attributes={},
        size=len(data),
        checksum=hashlib.md5(data).hexdigest(),
        hash_algo="sha512",
        hash_value=hashlib.sha512(data).hexdigest(),
    )
    fields.update(overrides)
    return ImageRecord(**fields)


async def chunks(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def drain(verifier: StreamVerifier, data: bytes) -> bytes:
    received = bytearray()
    async for chunk in verifier.verified(chunks(data)):
        received += chunk
    return bytes(received)


async def test_matching_stream_passes_through_unchanged():
    verifier = StreamVerifier(record())
    assert await drain(verifier, DATA) == DATA
    assert verifier.bytes == len(DATA)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # md5 is hashed in flight only when it is the source's one hash (else the target's md5
        # is compared after the upload: tests/test_hostile.py).
        ({"checksum": "0" * 32, "hash_algo": None, "hash_value": None}, "md5"),
        ({"hash_value": "0" * 128}, "sha512"),
        ({"size": len(DATA) + 1}, "got"),
        ({"size": len(DATA) - 1}, "more than"),
    ],
)
async def test_mismatch_fails_before_the_last_chunk_is_released(overrides, message):
    verifier = StreamVerifier(record(**overrides))
    received = bytearray()
    with pytest.raises(VerificationError, match=message):
        async for chunk in verifier.verified(chunks(DATA)):
            received += chunk
    assert len(received) < len(DATA)


async def test_no_verify_still_checks_the_size():
    verifier = StreamVerifier(record(checksum="0" * 32, size=5), hashes=False)
    with pytest.raises(VerificationError):
        await drain(verifier, DATA)


async def test_unknown_hash_algorithm_falls_back_to_md5():
    verifier = StreamVerifier(record(hash_algo="no-such-algo", hash_value="x"))
    assert await drain(verifier, DATA) == DATA

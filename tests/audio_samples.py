"""Audio files that tests build: the odd cases real encoders write."""

import io

import numpy as np
import soundfile as sf


def flac_without_length(samples: np.ndarray, rate: int) -> bytes:
    """A FLAC whose STREAMINFO says 'total samples unknown' (0), as an encoder writing to a pipe leaves it."""
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="FLAC")
    data = bytearray(buf.getvalue())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first
    # STREAMINFO starts at byte 8; its 36-bit total-samples field begins in the low nibble of byte 8 + 13
    data[21] &= 0xF0
    data[22:26] = b"\0\0\0\0"
    assert sf.info(io.BytesIO(bytes(data))).frames > 2 ** 40  # libsndfile: "unknown"
    return bytes(data)

"""Pink noise fields stay exactly the plain scipy transforms of their spectra (output bytes must not change)."""

from __future__ import annotations

import numpy as np
import pytest

from primps.pipeline.pinknoise import PinkNoise
from primps.pipeline.synth import sample_rng


@pytest.mark.parametrize("shape", [(64, 64), (48, 40), (256, 256), (100, 60)])
def test_fields_equal_the_plain_scipy_transforms(shape):
    """Each field is scipy's ifft down the columns then irfft along the rows of its spectrum, bit for bit (a fused
    irfft2 is not: it scales once by 1/(h w), which rounds differently unless h and w are powers of two)."""
    from scipy import fft as sfft

    h, w = shape
    pn = PinkNoise(sample_rng(1, 2), 6, h, w, 0.5, 3.5)
    for c in range(6):
        spec = np.empty((h, w // 2 + 1), dtype=np.complex64)
        pn._spectrum(c, spec)
        plain = sfft.irfft(sfft.ifft(spec, axis=0), n=w, axis=1)
        assert plain.dtype == np.float32 and np.array_equal(pn.field(c), plain)

"""What a load produced (shape, dtype, value sum, per-axis profiles), and whether it holds the
phantom: the right values, with the slices in order along the normal."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.ingestion.cases import Case

__all__ = ["check", "summary"]


def summary(array: np.ndarray) -> dict[str, Any]:
    """Shape, dtype, value sum and the sum profile along each axis (for order checks)."""
    profiles = [
        array.sum(axis=tuple(a for a in range(array.ndim) if a != axis), dtype=np.float64).tolist()
        for axis in range(array.ndim)
    ]
    return {
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sum": float(array.sum(dtype=np.float64)),
        "profiles": profiles,
    }


def check(case: Case, result: dict[str, Any]) -> str:
    """'ok' when the output holds the phantom's values with slices in order, else what differs."""
    shape = result.get("shape")
    if shape is None:
        return "no image (headers only)"
    if sorted(shape) != sorted(case.shape):
        return f"WRONG shape {tuple(shape)}"
    if not np.isclose(result["sum"], case.hu_sum, rtol=0, atol=0.5 + 1e-9 * abs(case.hu_sum)):
        return f"WRONG values (sum {result['sum']:.0f}, expected {case.hu_sum:.0f})"
    expected = np.asarray(case.profile)
    for profile in result["profiles"]:
        p = np.asarray(profile)
        if p.shape != expected.shape:
            continue
        if np.allclose(p, expected, atol=0.5):
            return "ok"
        if np.allclose(p[::-1], expected, atol=0.5):
            return "ok (slices reversed)"
    return "WRONG slice order"

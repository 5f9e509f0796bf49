"""Named tolerance profiles for parity, and the rule that picks one per cell.

A profile is chosen from *what arithmetic the cell really did* (artifact precision, the runtime's
effective inference precision, TF32 on CUDA), never from whether the check passes. The numbers and
their reasoning are in docs/parity.md; change them only there and here together.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from twinbench.core.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """Elementwise bound |actual - golden| <= atol + rtol * |golden| (numpy.allclose style),
    plus whole-output checks: cosine >= min_cosine (when RMSE > atol: below that the output is
    as small as the noise and its direction means nothing) and tie-aware argmax agreement >=
    min_argmax_agree. `rel_floor` only keeps the reported max relative error finite near zero."""

    name: str
    atol: float
    rtol: float
    rel_floor: float
    min_cosine: float
    min_argmax_agree: float
    why: str = ""

    def __post_init__(self) -> None:
        for field in ("atol", "rtol", "rel_floor"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field}: must be >= 0")
        if not 0.0 <= self.min_cosine <= 1.0:
            raise ValueError("min_cosine: must be in [0, 1]")
        if not 0.0 <= self.min_argmax_agree <= 1.0:
            raise ValueError("min_argmax_agree: must be in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Unit roundoffs (half an ulp at 1.0) of the formats that do the arithmetic.
U_FP64 = 2.0**-53   # 1.1e-16, 52-bit mantissa
U_FP32 = 2.0**-24   # 6.0e-8, 23-bit mantissa
U_TF32 = 2.0**-11   # 4.9e-4, 10-bit mantissa in the matmul inputs, fp32 accumulation
U_FP16 = 2.0**-11   # 4.9e-4, 10-bit mantissa, every stored activation rounded, 65504 max
U_BF16 = 2.0**-8    # 3.9e-3, 7-bit mantissa, fp32 range

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("fp32", atol=1e-5, rtol=0.0, rel_floor=1e-3, min_cosine=1 - 1e-9, min_argmax_agree=1.0,
                why="same fp32 arithmetic as the golden's weights: a hard 1e-5 absolute bound "
                    "(about 170 fp32 ulps at 1.0) leaves room for reordered sums only"),
        Profile("tf32", atol=5e-3, rtol=5e-3, rel_floor=1e-3, min_cosine=1 - 1e-4, min_argmax_agree=1.0,
                why="TF32 matmul inputs keep 10 mantissa bits (u = 4.9e-4): ~10u relative, "
                    "the same absolute for logits near 0"),
        Profile("bf16", atol=4e-2, rtol=4e-2, rel_floor=1e-2, min_cosine=1 - 1e-3, min_argmax_agree=1.0,
                why="bf16 keeps 7 mantissa bits (u = 3.9e-3): ~10u relative, the same absolute"),
        Profile("fp16", atol=1e-2, rtol=1e-2, rel_floor=1e-2, min_cosine=1 - 2e-4, min_argmax_agree=1.0,
                why="fp16 has tf32's mantissa (u = 4.9e-4) but rounds every stored activation "
                    "too, not only matmul inputs: twice the tf32 budget (~20u)"),
        Profile("fp64", atol=1e-10, rtol=1e-10, rel_floor=1e-6, min_cosine=1 - 1e-12, min_argmax_agree=1.0,
                why="the golden itself (torch float64) against the NumPy float64 reference of the same "
                    "equations: only summation order differs (u = 1.1e-16; measured <= 9e-14), so 1e-10 "
                    "leaves ~1000x room and any wrong gate, bias or readout is orders of magnitude above it"),
        Profile("int8", atol=0.15, rtol=0.1, rel_floor=0.1, min_cosine=0.99, min_argmax_agree=0.95,
                why="int8 weights/activations have a step of range/255 per tensor (~0.4% of the "
                    "largest value, errors correlated across a tensor): judged mainly by cosine and "
                    "argmax, with a loose elementwise bound that still catches broken graphs"),
    )
}

_OPENVINO_RUNTIMES = ("openvino", "ort-openvino")
_CUDA_DEVICES = ("cuda", "gpu")


def get_profile(name: str | Profile) -> Profile:
    """Resolve a profile name (ConfigError names the known ones)."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ConfigError(f"unknown parity profile {name!r} (known: {', '.join(PROFILES)})")
    return PROFILES[name]


def _settings(runtime_settings: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """Results rows store runtime_settings as a JSON string; accept that, a dict or nothing."""
    if runtime_settings is None or runtime_settings == "":
        return {}
    if isinstance(runtime_settings, str):
        try:
            value = json.loads(runtime_settings)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}
    return dict(runtime_settings)


def norm_precision(value: Any) -> str:
    """OpenVINO says 'bf16', 'bfloat16', '<Type: 'bfloat16'>', 'f32' ...: normalise to fp32/bf16/fp16."""
    text = str(value).lower()
    if "bf16" in text or "bfloat16" in text:
        return "bf16"
    if "f16" in text or "float16" in text or "half" in text:
        return "fp16"
    if "f32" in text or "float32" in text or "fp32" in text:
        return "fp32"
    return text


def _tf32_flag(s: Mapping[str, Any]) -> bool | None:
    """True/False when the runtime reported whether TF32 was allowed, None when it did not say."""
    for key in ("tf32", "allow_tf32", "use_tf32", "cuda_tf32", "tensor_float_32"):
        if key in s:
            v = s[key]
            return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes", "on")
    if "float32_matmul_precision" in s:
        return s["float32_matmul_precision"] in ("high", "medium")
    return None


def explain_profile(artifact_precision: str, runtime: str, device: str,
                    runtime_settings: Mapping[str, Any] | str | None = None) -> tuple[str, str]:
    """(profile name, one-line reason). Order: the artifact's own precision, then what the runtime
    says it really computed in, then TF32 on CUDA; fp32 only when nothing lowered the arithmetic."""
    s = _settings(runtime_settings)
    prec = (artifact_precision or "fp32").lower()
    if prec in ("fp16", "int8", "bf16"):
        return prec, f"artifact precision is {prec}"
    effective = s.get("inference_precision", s.get("INFERENCE_PRECISION_HINT"))
    if effective is not None:
        eff = norm_precision(effective)
        if eff in ("bf16", "fp16"):
            return eff, f"{runtime} reports inference precision {effective}"
        if eff == "fp32" and not (device or "cpu").lower().startswith(_CUDA_DEVICES):
            return "fp32", f"{runtime} reports inference precision {effective}"
    elif runtime in _OPENVINO_RUNTIMES:
        # The runtime did not say: OpenVINO CPU picks bf16 by itself on AVX512_BF16/AMX machines.
        return "bf16", f"{runtime} did not report its inference precision (may be bf16 on this CPU)"
    dev = (device or "cpu").lower()
    if dev.startswith(_CUDA_DEVICES):
        # TF, ORT CUDA/TRT and cuDNN RNNs may use TF32 on Ampere+ unless told not to.
        flag = _tf32_flag(s)
        if flag is None:
            return "tf32", f"{runtime} on {device} did not report TF32 off (default may use TF32)"
        if flag:
            return "tf32", f"{runtime} on {device} with TF32 enabled"
    return "fp32", "fp32 artifact; the runtime reports no lower-precision arithmetic"


def choose_profile(artifact_precision: str, runtime: str, device: str,
                   runtime_settings: Mapping[str, Any] | str | None = None) -> str:
    """The profile name for one cell (see `explain_profile` for the reason)."""
    return explain_profile(artifact_precision, runtime, device, runtime_settings)[0]

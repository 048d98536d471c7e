"""What CPU we run on, and how fast it could multiply matrices: ISA, cores, an estimated peak, a measured one.

The estimate is FLOP per cycle per core (from the vector units the ISA and microarchitecture imply) x cores x
the clock in /proc/cpuinfo. That clock is the nominal one: with turbo a core runs faster, so an achieved rate
can exceed the estimate.
"""

from __future__ import annotations

import platform
import re
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from .threads import default_threads

_INTERESTING_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                      "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni", "neon", "asimd", "sve")


@dataclass
class CpuInfo:
    """The facts that set a CPU's matrix-multiply peak."""

    vendor: str = "unknown"
    model_name: str = "unknown"
    family: Optional[int] = None
    model: Optional[int] = None
    microarch: str = "unknown"
    flags: List[str] = field(default_factory=list)
    isa: str = "unknown"
    cores: int = 1
    nominal_mhz: Optional[float] = None
    torch_capability: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


def _read_cpuinfo() -> Dict[str, str]:
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        return {}
    first = text.split("\n\n", 1)[0]
    out = {}
    for line in first.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def _microarch(vendor: str, family: Optional[int], model: Optional[int], flags: set) -> str:
    if vendor == "AuthenticAMD" and family == 0x19:
        # Family 19h is Zen 3 and Zen 4; only Zen 4 has AVX-512.
        return "zen4" if "avx512f" in flags else "zen3"
    if vendor == "AuthenticAMD" and family == 0x1A:
        return "zen5"
    if vendor == "AuthenticAMD" and family == 0x17:
        return "zen2"
    if vendor == "GenuineIntel":
        return "intel-avx512" if "avx512f" in flags else "intel-avx2" if "avx2" in flags else "intel"
    return "unknown"


def _isa(flags: set) -> str:
    parts = []
    if "avx512f" in flags:
        parts.append("avx512")
        parts += [f for f in ("avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8") if f in flags]
    elif "avx2" in flags:
        parts.append("avx2+fma" if "fma" in flags else "avx2")
        if "avx_vnni" in flags:
            parts.append("avx_vnni")
    elif flags & {"neon", "asimd"}:
        parts.append("neon")
    return "+".join(parts) if parts else "unknown"


def cpu_info() -> CpuInfo:
    """Read /proc/cpuinfo (Linux) and torch's dispatch level; other systems give what platform knows."""
    raw = _read_cpuinfo()
    flags = set(raw.get("flags", raw.get("Features", "")).split())
    vendor = raw.get("vendor_id", platform.processor() or "unknown")
    family = int(raw["cpu family"]) if raw.get("cpu family", "").isdigit() else None
    model = int(raw["model"]) if raw.get("model", "").isdigit() else None
    mhz = None
    if raw.get("cpu MHz"):
        try:
            mhz = float(raw["cpu MHz"])
        except ValueError:
            mhz = None
    name = raw.get("model name", platform.processor() or "unknown")
    m = re.search(r"@\s*([\d.]+)\s*GHz", name)
    if m:
        mhz = float(m.group(1)) * 1000
    cores = default_threads()
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - informative only
        capability = None
    return CpuInfo(vendor=vendor, model_name=name, family=family, model=model,
                   microarch=_microarch(vendor, family, model, flags),
                   flags=sorted(f for f in _INTERESTING_FLAGS if f in flags), isa=_isa(flags), cores=cores,
                   nominal_mhz=mhz, torch_capability=capability)


# FLOP (int8: OP) per cycle per core for one fused multiply-add stream of each kind.
_PER_CYCLE = {
    # Zen 3/4: two 256-bit FMA pipes (Zen 4 runs AVX-512 as two 256-bit halves); VDPBF16PS and VPDPBUSD
    # double and quadruple the work per lane.
    "zen3": {"float32": 32, "bfloat16": 32, "int8": 64},
    "zen4": {"float32": 32, "bfloat16": 64, "int8": 128},
    "zen5": {"float32": 64, "bfloat16": 128, "int8": 256},
    "zen2": {"float32": 32, "bfloat16": 32, "int8": 64},
    # Server Intel with AVX-512: two 512-bit FMA ports assumed (one on some SKUs).
    "intel-avx512": {"float32": 64, "bfloat16": 128, "int8": 256},
    "intel-avx2": {"float32": 32, "bfloat16": 32, "int8": 64},
}


def flops_per_cycle(info: CpuInfo, dtype: str = "float32") -> int:
    table = _PER_CYCLE.get(info.microarch)
    if table is None:
        table = {"float32": 32 if "fma" in info.flags else 16, "bfloat16": 32, "int8": 64}
    return table.get(dtype, table["float32"])


def estimated_peak_gflops(info: CpuInfo, threads: int, dtype: str = "float32") -> Optional[float]:
    """FLOP/cycle x min(threads, cores) x nominal GHz; None when the clock is unknown."""
    if not info.nominal_mhz:
        return None
    return flops_per_cycle(info, dtype) * min(threads, info.cores) * info.nominal_mhz / 1000.0

"""CPU facts and the peak estimate the benchmark reports."""

from __future__ import annotations

from luxtts.runtime.cpu import CpuInfo, cpu_info, estimated_peak_gflops, flops_per_cycle, _isa, _microarch


def test_cpu_info_reads_this_machine():
    info = cpu_info()
    assert info.cores >= 1
    assert isinstance(info.flags, list)
    d = info.to_dict()
    assert {"vendor", "microarch", "isa", "cores", "nominal_mhz"} <= set(d)


def test_microarch_and_isa_from_flags():
    zen4 = {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"}
    assert _microarch("AuthenticAMD", 0x19, 17, zen4) == "zen4"
    assert _microarch("AuthenticAMD", 0x19, 1, {"avx2", "fma"}) == "zen3"
    assert _microarch("GenuineIntel", 6, 143, zen4) == "intel-avx512"
    assert _isa(zen4) == "avx512+avx512_vnni+avx512_bf16"
    assert _isa({"avx2", "fma"}) == "avx2+fma"


def test_peak_scales_with_threads_and_precision():
    info = CpuInfo(vendor="AuthenticAMD", family=0x19, microarch="zen4", flags=["avx2", "fma", "avx512f"],
                   cores=2, nominal_mhz=2600.0)
    assert estimated_peak_gflops(info, 1) == 32 * 2.6
    assert estimated_peak_gflops(info, 2) == 2 * 32 * 2.6
    assert estimated_peak_gflops(info, 8) == estimated_peak_gflops(info, 2)  # capped at the cores we have
    assert flops_per_cycle(info, "bfloat16") == 2 * flops_per_cycle(info, "float32")
    assert estimated_peak_gflops(CpuInfo(cores=2), 2) is None  # unknown clock


def test_import_bounds_openmp_spinning_unless_the_user_set_it():
    import os
    import subprocess
    import sys

    code = "import luxtts, os; print(os.environ['GOMP_SPINCOUNT'])"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "10000"
    env["GOMP_SPINCOUNT"] = "5"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "5"

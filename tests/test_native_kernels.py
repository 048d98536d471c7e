"""luxtts.runtime.native: the C Swoosh kernel is built with this machine's GCC, cached safely, reused, refused when
its folder or file cannot be trusted, and computes what torch computes; without a compiler everything still runs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from luxtts.errors import InvalidOptionError, NativeKernelError
from luxtts.runtime import native


@pytest.fixture
def kernel_dir(tmp_path, monkeypatch):
    folder = tmp_path / "kernels"
    monkeypatch.setenv(native.KERNEL_DIR_ENV, str(folder))
    monkeypatch.setenv(native.NATIVE_ENV, "auto")
    native.reset()
    yield folder
    native.reset()


def built_files(folder: Path):
    return sorted(p.name for p in folder.iterdir())


def reference(z: torch.Tensor) -> torch.Tensor:
    z = z.double()
    return F.softplus(z, threshold=40.0) - 0.08 * z


def test_builds_into_a_private_folder_and_reuses_the_build(kernel_dir, monkeypatch):
    kernels = native.kernels()
    assert kernels is not None and native.unavailable_reason() is None
    [name] = built_files(kernel_dir)
    assert name.startswith("swoosh-") and name.endswith(".so")
    assert stat.S_IMODE(kernel_dir.stat().st_mode) == 0o700
    assert str(kernels.path) in native.status()

    def no_compiler(*args, **kwargs):
        raise AssertionError("a cached kernel was compiled again")

    native.reset()
    monkeypatch.setattr(native, "_compile", no_compiler)
    again = native.kernels()
    assert again is not None and again.path == kernels.path


def test_another_librarys_openmp_copy_does_not_stop_it(kernel_dir):
    # faster-whisper's ctranslate2 maps a private libgomp; the kernel binds to torch's and is used all the same.
    script = ("import ctranslate2, torch; from luxtts.runtime import native; k = native.kernels(); "
              "print(len(native.openmp_runtimes()), k is not None, native.unavailable_reason())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "True", "None"]


def test_a_second_openmp_runtime_brought_by_the_kernel_is_refused(monkeypatch):
    torch_gomp, private_copy, system_gomp = "/torch/lib/libgomp.so.1", "/other/libgomp-1234.so.1", "/usr/lib/libgomp.so.1"
    monkeypatch.setattr(native, "openmp_runtimes", lambda: [torch_gomp, private_copy])
    native._check_no_new_openmp({torch_gomp, private_copy})  # the kernel bound to what was there
    monkeypatch.setattr(native, "openmp_runtimes", lambda: [torch_gomp, system_gomp])
    with pytest.raises(NativeKernelError, match=r"mapped a second OpenMP runtime \(/usr/lib/libgomp.so.1, beside "
                                                r"/torch/lib/libgomp.so.1\)"):
        native._check_no_new_openmp({torch_gomp})
    native._check_no_new_openmp(set())  # torch without OpenMP: the kernel's runtime is the only one


def test_off_gives_none_and_a_bad_mode_names_the_variable(kernel_dir, monkeypatch):
    monkeypatch.setenv(native.NATIVE_ENV, "off")
    assert native.kernels() is None
    assert native.unavailable_reason() == "$LUXTTS_NATIVE=off"
    assert not kernel_dir.exists()
    monkeypatch.setenv(native.NATIVE_ENV, "fast")
    with pytest.raises(InvalidOptionError, match=r"\$LUXTTS_NATIVE must be one of \['auto', 'off', 'on'\], got 'fast'"):
        native.kernels()


@pytest.mark.parametrize("compiler", ["no-such-compiler-here", "clang-lookalike"])
def test_without_gcc_auto_runs_without_it_and_on_says_why(kernel_dir, tmp_path, monkeypatch, compiler):
    if compiler == "clang-lookalike":
        fake = tmp_path / "clang-lookalike"
        fake.write_text("#!/bin/sh\necho 'clang version 17.0.6'\n")
        fake.chmod(0o755)
        compiler = str(fake)
    monkeypatch.setenv("CC", compiler)
    assert native.kernels() is None
    assert "no GCC found" in native.unavailable_reason() and compiler in native.unavailable_reason()
    assert native.status().startswith("not used: no GCC found")
    monkeypatch.setenv(native.NATIVE_ENV, "on")
    with pytest.raises(NativeKernelError, match="LUXTTS_NATIVE=on but the native kernel is unavailable: no GCC"):
        native.kernels()


def test_a_failing_compiler_leaves_nothing_half_written(kernel_dir, tmp_path, monkeypatch):
    fake = tmp_path / "gcc"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'gcc (Fake) 1.0'; "
                    "echo 'Copyright (C) Free Software Foundation, Inc.'; exit 0; fi\n"
                    "echo 'fatal error: out of cheese' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    assert native.kernels() is None
    assert native.unavailable_reason() == f"the compiler {fake} exited with 3: fatal error: out of cheese"
    assert built_files(kernel_dir) == []


def test_refuses_a_folder_others_can_write(kernel_dir):
    kernel_dir.mkdir(mode=0o700)
    kernel_dir.chmod(0o777)
    assert native.kernels() is None
    assert "writable by group or others (mode 777)" in native.unavailable_reason()
    assert built_files(kernel_dir) == []


def test_refuses_a_cached_file_others_can_write(kernel_dir):
    kernels = native.kernels()
    kernels.path.chmod(0o766)
    native.reset()
    assert native.kernels() is None
    assert f"{kernels.path} is writable by group or others" in native.unavailable_reason()


def test_a_damaged_cached_file_is_built_again(kernel_dir):
    # In a fresh process: this one has the library mapped already, and dlopen would hand back that copy.
    path = native.kernels().path
    path.unlink()
    path.write_bytes(b"\x7fELF but not really")
    path.chmod(0o700)
    script = "from luxtts.runtime import native; k = native.kernels(); print(k.path if k else native.unavailable_reason())"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(path)
    assert path.read_bytes()[:4] == b"\x7fELF" and path.stat().st_size > 1000
    assert built_files(kernel_dir) == [path.name]


def test_a_folder_that_cannot_be_made_is_reported(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(native.KERNEL_DIR_ENV, str(blocker / "kernels"))
    native.reset()
    try:
        assert native.kernels() is None
        assert native.unavailable_reason().startswith(f"cannot create the kernel folder {blocker / 'kernels'}")
    finally:
        native.reset()


@pytest.mark.parametrize("n", [0, 1, 7, 16, 17, 65535, 65536, 65537, 300001])
def test_every_size_matches_torch_and_threads_do_not_change_a_bit(kernel_dir, n):
    kernels = native.kernels()
    torch.manual_seed(n)
    z = torch.randn(n) * 30
    got = kernels.swoosh_tail(z, 0.08)
    assert got.shape == z.shape and got.dtype == torch.float32
    if n:
        ref = reference(z)
        assert ((got.double() - ref).abs() / ref.abs()).max().item() <= 1e-6
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = kernels.swoosh_tail(z, 0.08)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(got, single)


def test_the_model_uses_it_and_gives_what_torch_gives(kernel_dir, monkeypatch):
    from luxtts.model import layers

    torch.manual_seed(0)
    z = torch.randn(2, 300, 1536) * 8
    with torch.inference_mode():
        fused = layers._swoosh_tail(z)
        monkeypatch.setenv(native.NATIVE_ENV, "off")
        plain = layers._swoosh_tail(z)
    assert not torch.equal(fused, plain)  # two formulations really ran
    assert ((fused - plain).abs() / plain.abs()).max().item() <= 1e-6
    assert os.listdir(kernel_dir)


def test_luxtts_checks_the_setting_and_builds_at_load(folder, kernel_dir, tmp_path, monkeypatch):
    from luxtts import LuxTTS

    monkeypatch.setenv(native.NATIVE_ENV, "yes")
    with pytest.raises(InvalidOptionError, match="LUXTTS_NATIVE must be one of"):
        LuxTTS(str(folder), device="cpu", threads=None)
    monkeypatch.setenv(native.NATIVE_ENV, "on")
    monkeypatch.setenv("CC", str(tmp_path / "absent-gcc"))
    with pytest.raises(NativeKernelError, match="no GCC found"):
        LuxTTS(str(folder), device="cpu", threads=None)
    monkeypatch.delenv("CC")
    native.reset()
    LuxTTS(str(folder), device="cpu", threads=None)
    assert len(built_files(kernel_dir)) == 1  # built at load, before the first request

"""Builds tasker_core._native: the C core's sources (taken from the shared build recipe, never from
a list kept here) and this package's ext/*.c, against CPython's limited API (one abi3 wheel serves
every CPython >= 3.9).

Inside the repository the core is first copied into vendor/ (`recipe.sh vendor`), so the sdist holds
everything a build needs. Environment switches for CI and debugging (users need none of them):
  TASKER_PY_WERROR=1     -Wall -Wextra -Werror on every C file
  TASKER_PY_SANITIZE=1   a debug build under AddressSanitizer + UndefinedBehaviorSanitizer
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"
REPO_RECIPE = HERE.parent / "recipe" / "recipe.sh"
LIMITED_API = "0x03090000"


def ensure_vendor() -> None:
    """Copies the core in from the repository when building there (the sdist already has it)."""
    if REPO_RECIPE.exists():
        subprocess.run(["sh", str(REPO_RECIPE), "vendor", str(VENDOR)], check=True)
    elif not (VENDOR / "manifest").exists():
        sys.exit("tasker-core: vendor/manifest is missing: build from the sdist, or inside the repository")


def recipe(*args: str) -> str:
    out = subprocess.run(["sh", str(VENDOR / "recipe.sh"), *args], check=True, stdout=subprocess.PIPE, text=True)
    return out.stdout


def relative(path: str) -> str:
    return os.path.relpath(path, HERE)


class BuildExt(build_ext):
    """Exports nothing but PyInit__native, so the core's symbols never interpose on another copy."""

    def build_extension(self, ext: Extension) -> None:
        script = Path(self.build_temp) / "tasker_core.map"
        script.parent.mkdir(parents=True, exist_ok=True)
        recipe("version-script", str(script), "PyInit__native")
        ext.extra_link_args = ext.extra_link_args + [f"-Wl,--version-script={script}"]
        super().build_extension(ext)


ensure_vendor()
cflags = shlex.split(recipe("cflags"))
libs = shlex.split(recipe("libs"))
extra = ["-O2"]
if os.environ.get("TASKER_PY_WERROR") == "1":
    extra += ["-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"]
if os.environ.get("TASKER_PY_SANITIZE") == "1":
    extra = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    libs += ["-fsanitize=address,undefined"]

sources = sorted(relative(str(p)) for p in (HERE / "ext").glob("*.c"))
sources += [relative(s) for s in recipe("sources").split()]

setup(
    ext_modules=[
        Extension(
            "tasker_core._native",
            sources=sources,
            define_macros=[("Py_LIMITED_API", LIMITED_API)],
            extra_compile_args=cflags + extra,
            extra_link_args=libs,
            py_limited_api=True,
        )
    ],
    cmdclass={"build_ext": BuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)

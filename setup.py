"""Build the walletsign Python package: the native module
walletsign._walletsign, compiled from the shim in python/walletsign/_ext/ (one
file per type, listed in SHIM_SOURCES) and the C core in csrc/ (flags from
pkg-config). Offline install:

    /usr/bin/python3 -m venv --system-site-packages build/venv
    build/venv/bin/pip install --no-build-isolation .      # or -e .
"""

import glob
import os
import re
import shlex
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
PKGS = ["openssl", "libcurl", "libcjson", "libsecp256k1", "hiredis"]


def rel(*parts):
    return os.path.join(*parts)  # setuptools wants paths relative to setup.py


def version():
    with open(os.path.join(HERE, "csrc", "include", "walletsign.h"), encoding="utf-8") as fh:
        return re.search(r'#define\s+WSIG_VERSION\s+"([^"]+)"', fh.read()).group(1)


def pkg_config():
    try:
        out = subprocess.run(["pkg-config", "--cflags", "--libs"] + PKGS, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit("pkg-config %s failed (%s): install the packages listed in "
                         "PLATFORM.md / scripts/ensure-deps.sh" % (" ".join(PKGS), exc))
    include_dirs, library_dirs, libraries, extra = [], [], [], []
    for flag in shlex.split(out):
        if flag.startswith("-I"):
            include_dirs.append(flag[2:])
        elif flag.startswith("-L"):
            library_dirs.append(flag[2:])
        elif flag.startswith("-l"):
            libraries.append(flag[2:])
        else:
            extra.append(flag)
    return include_dirs, library_dirs, libraries, extra


# The CPython shim, one file per type; shim.h holds what they share.
SHIM_DIR = rel("python", "walletsign", "_ext")
SHIM_SOURCES = [rel(SHIM_DIR, name) for name in (
    "module.c", "convert.c", "errors.c", "key.c", "auth.c", "verify.c", "replay_store.c", "rpc.c",
    "client.c", "ratelimit.c", "pool.c")]

os.chdir(HERE)
# Like the rockspec check in scripts/build-lua.sh: a shim file left out of the
# list would only show at import time, as an undefined wsp_ symbol.
unlisted = sorted(set(glob.glob(rel(SHIM_DIR, "*.c"))) - set(SHIM_SOURCES))
if unlisted:
    raise SystemExit("setup.py: add %s to SHIM_SOURCES" % ", ".join(unlisted))
core_sources = sorted(glob.glob(rel("csrc", "*.c")))
include_dirs, library_dirs, libraries, extra_flags = pkg_config()

ext = Extension(
    "walletsign._walletsign",
    sources=SHIM_SOURCES + core_sources,
    include_dirs=[rel("csrc", "include")] + include_dirs,
    library_dirs=library_dirs,
    libraries=libraries + ["pthread"],
    extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
                        "-fvisibility=hidden"] + extra_flags,
    extra_link_args=[f for f in extra_flags if f.startswith("-Wl")] + [
        "-Wl,--version-script=" + rel("python", "walletsign", "_walletsign.map")],
    depends=[rel("csrc", "include", "walletsign.h"), rel(SHIM_DIR, "shim.h"),
             rel("python", "walletsign", "_walletsign.map")]
    + sorted(glob.glob(rel("csrc", "*.h"))),
)

setup(
    name="walletsign",
    version=version(),
    description="Sign, send and verify wallet-API requests (Halogen JWT, HMAC, "
                "Ethereum-address messages)",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    package_dir={"": "python"},
    packages=["walletsign"],
    package_data={"walletsign": ["py.typed", "__init__.pyi"]},
    ext_modules=[ext],
    zip_safe=False,
)

"""The native module exports one symbol, its init function: the C core and the
shim's shared helpers (wsp_*, split over python/walletsign/_ext/) stay private
to it (python/walletsign/_walletsign.map), so they never clash with another
extension's symbols or a libwalletsign loaded in the same process."""

import shutil
import subprocess

import pytest

import walletsign as ws


def dynamic_symbols(path):
    nm = shutil.which("nm")
    if not nm:
        pytest.skip("nm (binutils) is not installed")
    out = subprocess.run([nm, "-D", "--defined-only", path], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def test_native_module_exports_only_its_init():
    symbols = dynamic_symbols(ws._walletsign.__file__)
    assert symbols == {"PyInit__walletsign"}, sorted(symbols)[:20]

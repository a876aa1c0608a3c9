"""docs/notebook.ipynb runs, every cell, against the mock server, with
jupyter nbconvert and a kernel of this very Python (the venv's). The kernel
is declared in a temporary JUPYTER_PATH, and IPython, matplotlib and Jupyter
keep their files in the same temporary directory: the test leaves nothing
behind (no `ipykernel install --user`)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import walletsign as ws

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"
KERNEL = "walletsign-test"


def need(module):
    try:
        __import__(module)
    except ImportError:
        pytest.skip("%s is not installed (Debian: make deps)" % module)


@pytest.fixture
def jupyter_env(tmp_path, server, p256_key, halogen_kid):
    for module in ("ipykernel", "pandas", "matplotlib", "tqdm"):
        need(module)
    jupyter = shutil.which("jupyter")
    if not jupyter:
        pytest.skip("jupyter-nbconvert is not installed (Debian: make deps)")
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "walletsign (test)", "language": "python"}))
    key_file = tmp_path / "halogen.pem"
    key_file.write_text(p256_key.private_pem())
    key_file.chmod(0o600)
    env = dict(os.environ,
               JUPYTER_PATH=str(tmp_path / "jupyter"),
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               IPYTHONDIR=str(tmp_path / "ipython"),
               MPLCONFIGDIR=str(tmp_path / "matplotlib"),
               PYDEVD_DISABLE_FILE_VALIDATION="1",
               HALOGEN_WALLET_KEY_ID=halogen_kid,
               HALOGEN_WALLET_PRIVATE_KEY_PATH=str(key_file),
               WALLETSIGN_BASE_URL=server.url)
    env.pop("HALOGEN_WALLET_PRIVATE_KEY_PEM", None)
    sanitizer_suppressions(env, tmp_path)
    return jupyter, env, tmp_path


def sanitizer_suppressions(env, tmp_path):
    """Under make check's ASan run (scripts/check-python.sh) the kernel and
    what it starts inherit LeakSanitizer: matplotlib's font scan runs
    Fontconfig's fc-list, whose own small leak is not ours to report."""
    opts = env.get("LSAN_OPTIONS", "")
    m = re.search(r"suppressions=([^:]+)", opts)
    if m and Path(m.group(1)).is_file():
        supp = tmp_path / "lsan.supp"
        supp.write_text(Path(m.group(1)).read_text() + "leak:fc-list\n")
        env["LSAN_OPTIONS"] = opts.replace(m.group(0), "suppressions=%s" % supp)


def outputs(cell, kind):
    return [o for o in cell.get("outputs", []) if o.get("output_type") == kind]


def text_of(cell):
    parts = []
    for o in cell.get("outputs", []):
        if "text" in o:
            parts.append("".join(o["text"]))
        for mime in ("text/plain", "text/html"):
            if mime in o.get("data", {}):
                parts.append("".join(o["data"][mime]))
    return "\n".join(parts)


def test_the_notebook_runs_against_the_mock(jupyter_env, server):
    jupyter, env, tmp = jupyter_env
    out = subprocess.run(
        [jupyter, "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.kernel_name=" + KERNEL, "--ExecutePreprocessor.timeout=120",
         "--output-dir", str(tmp), "--output", "executed", str(NOTEBOOK)],
        env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    nb = json.loads((tmp / "executed.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not outputs(c, "error") for c in code)
    assert all(c.get("execution_count") for c in code)       # every cell ran
    everything = "\n".join(text_of(c) for c in code)
    assert "<walletsign.Client " + repr(server.url) in everything
    assert "account_123" in everything and "fund_abc" in everything
    assert "NotFound 404 ErrMissingResource" in everything
    assert "(POST /query, 1 attempt" in everything
    assert "Halogen Shariah Money Market Fund" in everything
    # The DataFrames render as tables, the plot as an image, the bar as a bar.
    assert "<table" in everything
    assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    assert "walletsign" in everything and "4/4" in everything                 # tqdm's bar
    assert "IProgress" not in everything and "Warning" not in everything
    # What the kernel sent went through the mock, signed by the key.
    sent = [e for e in server.log() if e["path"] == "/query"]
    assert len(sent) >= 8 and all(e["verified_by"].startswith("jwt:ES256") for e in sent)
    # The secret never shows.
    assert ws.Key.load(env["HALOGEN_WALLET_PRIVATE_KEY_PATH"]).private_pem().split("\n")[1] \
        not in (tmp / "executed.ipynb").read_text()

"""Every `# example:` block of docs/quickstart-python.md runs, against the mock server
for the ones that talk to an API."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "quickstart-python.md"
BLOCK = re.compile(r"```python\n# example: (\w+)\n(.*?)```", re.S)
EXAMPLES = dict(BLOCK.findall(DOC.read_text(encoding="utf-8")))


def test_examples_found():
    assert {"keys", "halogen", "hmac", "callbacks", "requests", "scale_out"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name, server, p256_key, halogen_kid, tmp_path, monkeypatch, capsys,
                      request):
    monkeypatch.chdir(tmp_path)
    if name == "scale_out":   # a private Redis for the replay store
        monkeypatch.setenv("WALLETSIGN_REDIS_URL", request.getfixturevalue("redis_server").url)
    monkeypatch.setenv("WALLETSIGN_BASE_URL", server.url)
    monkeypatch.setenv("HALOGEN_WALLET_KEY_ID", halogen_kid)
    monkeypatch.setenv("HALOGEN_WALLET_PRIVATE_KEY_PEM", p256_key.private_pem())
    monkeypatch.delenv("HALOGEN_WALLET_PRIVATE_KEY_PATH", raising=False)
    if name == "requests":
        pytest.importorskip("requests")
    code = compile(EXAMPLES[name], "%s:example:%s" % (DOC.name, name), "exec")
    exec(code, {"__name__": "docs_example"})
    out = capsys.readouterr().out
    if name == "halogen":
        assert "account_123" in out and "404 ErrMissingResource" in out
    if name == "requests":
        assert out.startswith("200 5")


README = DOC.parent.parent / "README.md"
README_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(README_BLOCKS)))
def test_readme_python_examples_run(index, server, p256_key, halogen_kid, tmp_path,
                                    monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WALLETSIGN_BASE_URL", server.url)
    monkeypatch.setenv("HALOGEN_WALLET_KEY_ID", halogen_kid)
    monkeypatch.delenv("HALOGEN_WALLET_PRIVATE_KEY_PEM", raising=False)
    path = tmp_path / "halogen.pem"
    p256_key.save(path)
    monkeypatch.setenv("HALOGEN_WALLET_PRIVATE_KEY_PATH", str(path))
    exec(compile(README_BLOCKS[index], "README.md:python:%d" % index, "exec"),
         {"__name__": "readme_example"})
    assert capsys.readouterr().out


def test_readme_has_python_examples():
    assert README_BLOCKS

"""Provenance: the dirty flag covers the code that produces numbers, never the results being written; results files
are written with provenance and read back with one-line errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sr_lib import provenance, results
from sr_lib.provenance import git_commit, weights_key

def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed checkout with code, a chapter, build files, a results file and a README."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("HOME", str(tmp_path))  # no user-wide gitignore or config
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = tmp_path / "checkout"
    files = {"sr_lib/core.py": "x = 1\n", "book/ch1.ipynb": "{}\n", "Makefile": "all:\n", ".ci/run": "true\n",
             "results/eval.json": "{}\n", "README.md": "readme\n", ".gitignore": "__pycache__/\n_build/\n"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "init")
    return root


def test_clean_checkout_records_the_full_commit(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert len(head) == 40
    assert git_commit(repo) == head
    assert git_commit(repo / "results") == head  # from a subfolder too


def test_written_results_and_notes_do_not_make_it_dirty(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "results/eval.json").write_text('{"psnr": 1}\n')
    (repo / "results/new.json").write_text("{}\n")
    (repo / "README.md").write_text("edited\n")
    (repo / "sr_lib/__pycache__").mkdir()
    (repo / "sr_lib/__pycache__/core.pyc").write_bytes(b"\0")  # ignored
    (repo / "book/_build").mkdir()
    (repo / "book/_build/page.html").write_text("<p/>")  # ignored
    assert git_commit(repo) == head


@pytest.mark.parametrize("change", ["modify code", "stage build file", "untracked chapter", "untracked ci",
                                    "delete code"])
def test_code_changes_make_it_dirty(repo: Path, change: str) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    if change == "modify code":
        (repo / "sr_lib/core.py").write_text("x = 2\n")
    elif change == "stage build file":
        (repo / "Makefile").write_text("all: book\n")
        _git(repo, "add", "Makefile")
    elif change == "untracked chapter":
        (repo / "book/ch2.ipynb").write_text("{}\n")
    elif change == "untracked ci":
        (repo / ".ci/extra.sh").write_text("true\n")
    else:
        (repo / "sr_lib/core.py").unlink()
    assert git_commit(repo) == head + "-dirty"
    assert git_commit(repo / "results") == head + "-dirty"


def test_outside_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert git_commit(tmp_path).startswith("unknown")


def test_weights_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SR_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert weights_key(tmp_path / "weights" / "mine" / "x2.pt") == "mine/x2.pt"
    # recorded on another machine: the registered file it ends with
    assert weights_key("/elsewhere/w/srcnn/9-5-5_ImageNet/x2.mat") == "srcnn/9-5-5_ImageNet/x2.mat"
    assert weights_key(tmp_path / "other" / "x2.pt") is None


# ---------------------------------------------------------------------------------------------------------------
# writing and reading results files


def test_write_results_adds_provenance_and_data_hashes(tmp_path: Path) -> None:
    data = tmp_path / "img.png"
    data.write_bytes(b"pixels")
    written = results.write_results(tmp_path / "out" / "r.json", {"kind": "bench", "value": 1.5}, device="cpu",
                                    data_files=[data])
    assert results.read_results(tmp_path / "out" / "r.json") == written
    prov = written["provenance"]
    assert prov["git_commit"] == provenance.git_commit()
    assert prov["data_sha256"] == {str(data): hashlib.sha256(b"pixels").hexdigest()}
    assert prov["torch"] and prov["device"].startswith("cpu") and prov["timestamp_utc"]
    assert written["value"] == 1.5 and written["kind"] == "bench"


def test_write_results_keeps_an_existing_provenance(tmp_path: Path) -> None:
    payload = {"x": 1, "provenance": {"git_commit": "abc"}}
    assert results.write_results(tmp_path / "r.json", payload, device="cpu") == payload
    assert json.loads((tmp_path / "r.json").read_text()) == payload


@pytest.mark.parametrize("content, message", [(None, "no such results file"), ("{not json", "not valid JSON"),
                                              ("[1, 2]", "JSON object")])
def test_read_results_errors_are_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(results.ResultsError, match=message) as info:
        results.read_results(path)
    assert "\n" not in str(info.value)


def test_provenance_line_keeps_the_full_dirty_commit() -> None:
    commit = "0123456789abcdef0123456789abcdef01234567-dirty"
    line = results.provenance_line({"provenance": {"git_commit": commit, "device": "cpu: x86_64",
                                                   "torch": "2.13.0", "timestamp_utc": "2026-01-01T00:00:00+00:00",
                                                   "wall_time_s": 26.29}})
    assert f"commit {commit}," in line
    assert "cpu: x86_64" in line and "torch 2.13.0" in line and "2026-01-01T00:00:00+00:00" in line
    assert "26.3 s" in line and "\n" not in line
    with pytest.raises(results.ResultsError):
        results.provenance_line({"psnr": 30.0})


def test_clean_commit_refuses_modified_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(results, "git_commit", lambda: "abc-dirty")
    with pytest.raises(results.ResultsError, match="code is modified"):
        results.clean_commit()
    monkeypatch.setattr(results, "git_commit", lambda: "abc")
    for name, commit in (("a.json", "abc"), ("b.json", "abc-dirty"), ("c.json", "def")):
        (tmp_path / name).write_text(json.dumps({"provenance": {"git_commit": commit}}))
    wrong = results.check_commit(sorted(tmp_path.glob("*.json")))
    assert [line.split(":")[0] for line in wrong] == [str(tmp_path / "b.json"), str(tmp_path / "c.json")]
    assert results.main(["check-commit", str(tmp_path / "a.json")]) == 0
    assert results.main(["check-commit", str(tmp_path / "c.json")]) == 1

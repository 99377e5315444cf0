"""tests/support/axe.py: axe-core's tarball is used only when it is the one npm published."""

import io
import tarfile

import pytest

from tests.support import axe


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_the_pinned_tarball_gives_its_axe_min_js(monkeypatch):
    package = tarball({"package/axe.min.js": b"axe = {};", "package/README.md": b"#"})
    monkeypatch.setattr(axe, "INTEGRITY", axe.integrity_of(package))

    assert axe.axe_source(package) == b"axe = {};"


def test_a_tarball_other_than_the_pinned_one_is_refused():
    package = tarball({"package/axe.min.js": b"alert(1)"})

    with pytest.raises(SystemExit, match="integrity"):
        axe.axe_source(package)


def test_the_integrity_is_npms_sha512_in_base64():
    # npm's format: `sha512-` and the base64 of the digest (88 characters).
    assert axe.INTEGRITY.startswith("sha512-") and len(axe.INTEGRITY) == 7 + 88
    assert axe.integrity_of(b"").startswith("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H")

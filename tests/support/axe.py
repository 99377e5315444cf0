"""axe-core, pinned, for the accessibility tests: `python -m tests.support.axe` fetches it.

The browser tests inject `axe.min.js` into each page; they never download it. This
script (`make axe-core`, a prerequisite of `make test-browser`) fetches the npm
package's tarball from the registry with the standard library alone, since the
machine may have Python but no npm, checks it against the registry's published
`dist.integrity`, and keeps only `package/axe.min.js`. Running it again when the
file is there does nothing.
"""

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
# `npm view axe-core@4.14.1 dist.integrity`
INTEGRITY = (
    "sha512-"
    "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / ".tools" / f"axe-core-{VERSION}" / "axe.min.js"


def integrity_of(data: bytes) -> str:
    """The Subresource Integrity string npm publishes for a tarball."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def axe_source(tarball: bytes) -> bytes:
    """`package/axe.min.js` from the package's tarball, once it matches INTEGRITY."""
    found = integrity_of(tarball)
    if found != INTEGRITY:
        raise SystemExit(f"{TARBALL}: integrity {found}, expected {INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            raise SystemExit(f"{TARBALL} has no package/axe.min.js")
        return member.read()


def main() -> None:
    if AXE_JS.is_file():
        return
    with urllib.request.urlopen(TARBALL, timeout=60) as response:
        source = axe_source(response.read())
    AXE_JS.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: an interrupted fetch leaves no file to trust.
    partial = AXE_JS.with_suffix(".partial")
    partial.write_bytes(source)
    partial.replace(AXE_JS)
    sys.stderr.write(f"axe-core {VERSION} -> {AXE_JS.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()

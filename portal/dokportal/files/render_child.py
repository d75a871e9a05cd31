"""The child process that renders an untrusted PDF to pictures (run by files/safe_copies.py).

It reads the PDF on stdin and writes a new PDF on stdout whose pages are only JPEG
pictures of the original's pages: no text, no scripts, no forms, no embedded files, no
links survive (the idea of Dangerzone). PDFium as shipped by pypdfium2 has no JavaScript
engine and no XFA. The process limits itself before it touches the PDF: address space,
CPU time, no files written, no new processes; the parent adds a wall-clock timeout and,
where the kernel allows, a network namespace without interfaces.

Exit codes: 0 done, 2 the PDF cannot be rendered, anything else is a crash or a limit.
"""

from __future__ import annotations

import contextlib
import io
import resource
import sys

MEMORY_BYTES = 1024 * 1024 * 1024
CPU_SECONDS = 120
MAX_PAGES = 300
# Long side of a rendered page: an A4 page at ~150 dpi, small print stays readable.
LONG_SIDE = 1754
JPEG_QUALITY = 75


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # No new processes; some containers refuse the limit, the others still hold.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def main() -> int:
    # Imported before the limits: loading the libraries needs files and memory maps.
    import pypdfium2
    from PIL import Image

    from dokportal.files.pages import Page
    from dokportal.files.pdf_pages import pdf_chunks

    data = sys.stdin.buffer.read()
    _limit()
    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError:
        return 2
    if len(document) < 1 or len(document) > MAX_PAGES:
        return 2
    pages: list[Page] = []
    for index in range(len(document)):
        page = document[index]
        width, height = page.get_size()
        scale = LONG_SIDE / max(width, height, 1.0)
        image: Image.Image = page.render(scale=scale, may_draw_forms=True).to_pil()
        image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        pages.append(Page(jpeg=out.getvalue(), width=image.width, height=image.height, gray=False))
        page.close()
    document.close()
    for chunk in pdf_chunks(pages):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Text, Markdown and HTML laid out as PDF pages by PyMuPDF's Story (its HTML engine).

Laying text out as pages gives it what every folio document has: page images to attach
and boxes to highlight. MuPDF's HTML engine runs no scripts and, without an archive,
loads no files or URLs (an ``<img src=...>`` becomes a placeholder), so untrusted HTML
can only cost time and memory, which the parse child limits.
"""

from __future__ import annotations

import html
import io
import re

from rag._mupdf import pymupdf
from rag.errors import CorruptDocument, EmptyDocument, TooManyPages
from rag.ingest._sniff import Format, decode_text

PAGE = (612.0, 792.0)  # US Letter, in points
MARGIN = 54.0
_CSS = """
body { font-family: sans-serif; font-size: 11pt; line-height: 1.35; }
pre, code { font-family: monospace; font-size: 9.5pt; }
pre { white-space: pre-wrap; }
h1 { font-size: 18pt; } h2 { font-size: 15pt; } h3 { font-size: 13pt; }
table { border-collapse: collapse; } td, th { border: 0.5pt solid #888; padding: 2pt 4pt; }
"""
_BLANK_LINES = re.compile(r"\n\s*\n")


def text_to_pdf(data: bytes, fmt: Format, file_name: str, *, max_pages: int) -> bytes:
    """A PDF of the text file's pages: plain text in paragraphs, Markdown and HTML as shown."""
    text = decode_text(data)
    if text is None:
        raise CorruptDocument(f"{file_name} is not text; share it again as a text file.")
    if not text.strip():
        raise EmptyDocument(f"{file_name} has no text; share a file with something in it.")
    if fmt.suffix == "html":
        body = text
    elif fmt.suffix == "md":
        body = markdown_html(text)
    else:
        body = plain_html(text)
    return _layout(body, file_name, max_pages)


def plain_html(text: str) -> str:
    """Paragraphs at blank lines; line breaks and indentation kept within a paragraph."""
    paragraphs = (p.strip("\n") for p in _BLANK_LINES.split(text.replace("\r\n", "\n")))
    return "\n".join(
        f'<p style="white-space: pre-wrap">{html.escape(p)}</p>' for p in paragraphs if p.strip()
    )


def markdown_html(text: str) -> str:
    """CommonMark with tables and strikethrough, as HTML."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text))


def _layout(body: str, file_name: str, max_pages: int) -> bytes:
    out = io.BytesIO()
    story = pymupdf.Story(html=body, user_css=_CSS)
    writer = pymupdf.DocumentWriter(out)
    mediabox = pymupdf.Rect(0, 0, *PAGE)
    where = mediabox + (MARGIN, MARGIN, -MARGIN, -MARGIN)
    more, pages = True, 0
    while more:
        if pages == max_pages:
            # Stopped here: Story would place page after page of a huge file.
            raise TooManyPages(
                f"{file_name} fills more than {max_pages} pages; folio reads up to "
                f"{max_pages}. Split it into smaller files and share those.",
                detail=f"over {max_pages} pages laid out",
            )
        device = writer.begin_page(mediabox)
        more, _ = story.place(where)
        story.draw(device)
        writer.end_page()
        pages += 1
    writer.close()
    return out.getvalue()

"""The ingest pipeline: untrusted bytes -> sniffed, parsed in a child, chunked, captioned,
embedded, indexed and recorded. Internal: import what you need from ``rag``.

Kept import-free, because the parser's child process imports ``rag.ingest._child``.
"""

"""The answer pipeline: a question -> hybrid retrieval with the permission filter -> the
vision model (or extractive quotes) -> checked citations -> highlighted page images.
Internal: import what you need from ``rag``.
"""

"""Segment side: the batch sender and Spec message builders."""

from segmarketo_cli.segment.sender import BatchResult, BatchSender

__all__ = ["BatchResult", "BatchSender"]

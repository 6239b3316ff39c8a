"""Segment side: the batch sender and Spec message builders."""

from .sender import BatchResult, BatchSender, SendSummary

__all__ = ["BatchResult", "BatchSender", "SendSummary"]

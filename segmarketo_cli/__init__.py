"""segmarketo: keep Twilio Segment and Adobe Marketo Engage in step, in batch."""

__version__ = "0.1.0"

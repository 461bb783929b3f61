"""fsm-risk: a real-time risk guardian for ProjectX futures accounts."""

__version__ = "0.1.0"

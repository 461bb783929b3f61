"""The `fsm-risk` command line: thin commands that parse, wire, delegate and report."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fsm-risk")
def main() -> None:
    """fsm-risk: a real-time risk guardian for ProjectX futures accounts."""

"""The `fsm-risk` command line: thin commands that parse, wire, delegate and report."""

from __future__ import annotations

import click

from fsm_risk.paper.cli import paper_gateway


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fsm-risk")
def main() -> None:
    """fsm-risk: a real-time risk guardian for ProjectX futures accounts."""


main.add_command(paper_gateway)

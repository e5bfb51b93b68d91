"""``manage.py pull_stock_levels <channel> --location-id ID [--location NAME]``: read what a sales
system holds at one of its locations and keep it beside our stock levels (the daily
reconciliation compares the two)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.models import Channel
from integrator.services.inventory.stock import pull_source_levels


class Command(BaseCommand):
    """Pull a channel's stock levels (Shopify inventory levels) into ``StockLevel.source_quantity``."""

    help = "Read a sales system's stock levels at one location and record them beside ours."

    def add_arguments(self, parser: CommandParser) -> None:
        """The channel, the vendor's location id, and our location's name."""
        parser.add_argument("channel", help="The channel's slug.")
        parser.add_argument("--location-id", required=True, help="The vendor's id of the location.")
        parser.add_argument("--location", default="main", help="Our name of the location (default: main).")

    def handle(self, *args: Any, **options: Any) -> None:
        """Pull and report how many levels were recorded."""
        channel = Channel.objects.filter(slug=options["channel"]).first()
        if channel is None:
            raise CommandError(f"no channel {options['channel']!r}")
        try:
            recorded = pull_source_levels(
                channel, location_id=options["location_id"], location=options["location"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{recorded} stock level(s) of {channel.name} recorded at {options['location']}.")

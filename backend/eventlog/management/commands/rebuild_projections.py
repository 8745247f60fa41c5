from django.core.management.base import BaseCommand, CommandError

from backend.eventlog import projections


class Command(BaseCommand):
    help = "Drop projections and rebuild them from the event log, from sequence zero."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="projections to rebuild (default: all)")

    def handle(self, *args, **options):
        names = options["names"] or sorted(projections.registered())
        for name in names:
            try:
                projection = projections.get(name)
            except KeyError as exc:
                raise CommandError(str(exc)) from None
            count = projections.rebuild(projection)
            self.stdout.write(f"{name}: replayed {count} events")

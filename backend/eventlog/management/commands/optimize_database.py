from django.core.management.base import BaseCommand

from backend.eventlog.maintenance import refresh_planner_statistics


class Command(BaseCommand):
    help = "Gather the query planner's statistics now (ANALYZE): after a bulk import or a rebuild."

    def handle(self, *args, **options):
        refresh_planner_statistics(full=True)
        self.stdout.write("planner statistics refreshed")

import logging
from collections.abc import Collection

from django.apps import AppConfig

log = logging.getLogger(__name__)


class ExportsConfig(AppConfig):
    name = "backend.exports"
    label = "exports"
    verbose_name = "Exports and cases"

    def ready(self) -> None:
        from backend.clips import interludes

        from . import jobs, tasks

        def next_ready(skip: Collection[interludes.Key]) -> interludes.Key | None:
            found = tasks.ready_to_render(skip)
            return None if found is None else (jobs.kind_of(found[0]), found[1])

        def run(key: interludes.Key) -> object:
            log.info("serving %s %s before the analysis of uploads", *key)
            return tasks.run(jobs.KINDS[key[0]], key[1])

        # Exports and masked renditions go before uploads (``analysis.tasks.serve_more_urgent``).
        interludes.register(interludes.Interlude("render", next_ready, run))

"""The alert processor on scratch topics: ``python -m tests.integration.monitoring.alert_processor_main``.

The production entrypoint's app with its consumer group, changelog, source and sink named by the
test (CP_TEST_APP_ID, CP_TEST_SOURCE, CP_TEST_SINK); everything else as in production."""

from __future__ import annotations

import os

from cpshared.db import make_engine
from cpshared.process import start_process
from cpshared.settings import load_settings
from monitoring_service import SERVICE_NAME
from monitoring_service.config import AlertProcessorSettings
from monitoring_service.entrypoints.alert_processor import make_app, run


def main() -> None:
    settings = load_settings(AlertProcessorSettings)
    start_process(SERVICE_NAME, settings)
    engine = make_engine(settings.database_url, pool_size=2)
    app = make_app(
        settings,
        engine,
        app_id=os.environ["CP_TEST_APP_ID"],
        source_topic=os.environ["CP_TEST_SOURCE"],
        sink_topic=os.environ["CP_TEST_SINK"],
    )
    run(app, settings, engine)


if __name__ == "__main__":
    main()

from unittest import mock

import pytest
from celery import current_app


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Tasks sent by name run in this process, as a worker would run them. Yields (capture,
    sent): `capture()` runs the default database's on-commit callbacks on exit; `sent` lists the
    task names sent."""
    current_app.loader.import_default_modules()  # every app's tasks (autodiscovery)
    sent = []

    def send_task(name, args=None, kwargs=None, **options):
        sent.append(name)
        return current_app.tasks[name].apply(args=args, kwargs=kwargs, throw=True)

    with mock.patch("celery.current_app.send_task", side_effect=send_task):
        yield lambda: django_capture_on_commit_callbacks(execute=True), sent

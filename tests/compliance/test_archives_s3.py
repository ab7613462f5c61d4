"""Archives in an S3-compatible store (MinIO in production) through django-storages, against
moto's S3 server started here on 127.0.0.1."""

import datetime as dt
import gzip
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from compliance.models import ArchiveBatch
from compliance.retention import jobs
from strategies.models import Backtest, BacktestTrade
from tests.factories import BacktestFactory, BacktestTradeFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

BUCKET = "apextrade-archives"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("moto's S3 server did not start")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    config = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "archives": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "region_name": "us-east-1",
                "file_overwrite": True,
                "default_acl": None,
            },
        },
    }
    with override_settings(STORAGES=config):
        yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_backtests_are_archived_to_s3_verified_deleted_and_restored(s3):
    backtest = BacktestFactory(completed=True)
    BacktestTradeFactory(backtest=backtest)
    Backtest.objects.filter(pk=backtest.pk).update(
        created_at=timezone.now() - dt.timedelta(days=400)
    )

    jobs.run_archival_job("strategies.archive_backtests")

    assert not Backtest.objects.filter(pk=backtest.pk).exists()
    batch = ArchiveBatch.objects.get()
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {batch.archive_name, batch.manifest_name}
    body = s3.get_object(Bucket=BUCKET, Key=batch.archive_name)["Body"].read()
    lines = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    assert [line["model"] for line in lines] == ["strategies.Backtest", "strategies.BacktestTrade"]

    call_command("restore_archive", batch.manifest_name)
    assert Backtest.objects.filter(pk=backtest.pk).exists()
    assert BacktestTrade.objects.filter(backtest_id=backtest.pk).count() == 1

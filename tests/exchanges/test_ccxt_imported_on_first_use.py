"""ccxt (about 64 MB and a second of CPU) is imported on the first exchange call, not by every
process that sets Django up (the admin's autodiscovery reaches exchanges.client)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_setting_django_up_does_not_import_ccxt() -> None:
    script = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'apextrade.settings.test')\n"
        "django.setup()\n"
        "import exchanges.client, exchanges.errors, trading.live_orders, marketdata.downloads\n"
        "print('ccxt' in sys.modules)\n"
        "exchanges.client.ExchangeClient('binance')\n"
        "print('ccxt' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True"]
